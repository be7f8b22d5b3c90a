"""Subcommands of the npvae command line; see npvae/cli.py."""
