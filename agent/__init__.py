"""The Callreel agent: records one business window and the call, only for a training session,
only after a notice, sealed to the vault (docs/design.md)."""
