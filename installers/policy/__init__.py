"""IT's policy in every form it takes, generated from agent/settings/fields.py: the Linux
policy file, the Group Policy templates, the macOS managed preferences and the reference
table in docs/deploy.md. A new setting appears in all of them at once."""
