"""npvae."""
