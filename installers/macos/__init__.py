"""The macOS pkg's inputs, generated and checked on Linux; a macOS runner builds, signs,
notarises and installs the pkg from them (.github/workflows/release.yml)."""
