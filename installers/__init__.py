"""Building Callreel's installers: the Linux .debs, the Windows MSI, the macOS pkg's inputs
and IT's policy templates, all from the one declaration of the agent's settings
(agent/settings/fields.py). `installers/build TARGET` writes into dist/; docs/deploy.md says
what IT does with them."""
