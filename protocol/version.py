"""Callreel's version: declared here once; pyproject.toml reads it for the packages."""

VERSION = "0.1.0"
