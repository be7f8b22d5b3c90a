"""Figures of npvae (matplotlib, Agg backend; every function returns a Figure and never shows it)."""
