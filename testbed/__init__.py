"""Real components started on this machine for the tests, the benchmarks and the developer
scripts: a virtual X display with a window manager, a private PulseAudio, a throwaway
PostgreSQL and a one-node Ceph RADOS Gateway, with the waits and process handling they share.

Not part of the product: no package of Callreel installs it. tests/plugins/ wraps these as
pytest fixtures; bench/ and scripts/ use them directly.
"""
