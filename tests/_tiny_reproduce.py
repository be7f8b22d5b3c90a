"""The tiny ``npvae reproduce`` run shared by tests/reproduce (one run per test session)."""

TINY = dict(preset="quick", n_spectra=400, latents=(2,), max_epochs=1, noise_draws=20, baseline_iter=5,
            beyond_train=400, beyond_epochs=1, redshift_spectra=8, verbose=False, seed=3)
