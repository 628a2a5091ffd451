"""The vault's metadata database: its tables, connecting to it, and its schema migrations."""
