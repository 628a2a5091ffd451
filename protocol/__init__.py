"""What the agent and the vault share, and nothing else: the sealed segment format (both
halves), key files, device request signing, certificate pinning, atomic file writes, the typed
API bodies, the recording metadata and the version. It imports neither product (docs/design.md).
"""
