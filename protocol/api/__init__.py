"""The JSON bodies of the vault's HTTP API, as pydantic models both sides use."""
