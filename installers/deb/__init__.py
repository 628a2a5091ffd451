"""The Linux packages: the agent's and the vault's .deb, each a virtual environment under
/usr/lib/ built from a lock (installers/locks/), with the system's files around it."""
