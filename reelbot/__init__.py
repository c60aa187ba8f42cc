"""The `reelbot` command line: one entry point for every process of the stack."""
