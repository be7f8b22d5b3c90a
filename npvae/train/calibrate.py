"""Calibrating the latent variance of a noise-aware encoder on noisy copies of training spectra.

Trained on degraded spectra (:mod:`npvae.train.degrade`), a noise-aware encoder reports a latent
variance that follows the noise, but too wide a one: over noisy copies of one spectrum the latent
means scatter by less than the variance the encoder reports, and the more so the noisier the copy
(the ELBO sets the variance by the curvature of the likelihood, not by how far the means move;
docs/derivations/noise_aware.md). After training, ``fit`` therefore maps each latent's
log-variance through a straight line,

.. math::
    \\ell'_k = a_k + b_k\\,\\ell_k ,

fitted so that, on noisy copies of the K highest-S/N training spectra at the S/N levels
:data:`CALIBRATION_SN` (the Fig. 17 experiment, run on training spectra so that every
validation spectrum stays free for the measurement), the variance of the latent means equals the
mean reported variance: for latent k and level s,

.. math::
    r_{sk}(a_k, b_k) = \\frac{\\langle \\mathrm{Var}_r\\,\\mu_{rk} \\rangle_{\\rm spectra}}
                           {\\langle e^{a_k + b_k \\ell_{rk}} \\rangle_{r,\\,\\rm spectra}},
    \\qquad (a_k, b_k) = \\arg\\min \\sum_s (\\log r_{sk})^2 .

For a given b_k the best a_k is the mean over levels of log(numerator) - log(denominator at
a_k = 0); b_k is found on the grid :data:`SLOPES`, 0 to 2. A latent whose best b_k lies on an end
of the grid is left as it is (a_k = 0, b_k = 1): no line of a plausible slope matches its
copies, so the fit says nothing trustworthy about it, and a line at the edge, extrapolated to
spectra whose log-variance lies outside the narrow range seen on the copies, can be wrong by
orders of magnitude. (This happens to a latent that the calibration spectra barely use: the
encoder reports nearly the prior's variance for it whatever the noise, while its means hardly
move; a steep line fitted there shrinks the variance a thousandfold on spectra that do use the
latent.) The line is folded into the log-variance head (its weights
times b_k, its bias a_k + b_k times the bias), so every path that encodes (``encode``,
:func:`npvae.apply.encode.encode_chunk`) reports the calibrated variance and the model file needs
no new parameter; (a, b) and how they were fitted are kept as a record. The means, hence the
reconstructions, are unchanged. Docs: docs/noise_aware.md.

Shapes: N spectra, K calibration spectra, L S/N levels, R noisy copies, D pixels, Z latent.
"""
import numpy as np

from ..utils import NpvaeError

__all__ = ["CALIBRATION_SN", "CALIBRATION_SPECTRA", "CALIBRATION_DRAWS", "CALIBRATION_SEED",
           "calibrate_logvar", "calibration_draws", "fit_logvar_line", "fold_logvar_line", "spectrum_sn"]

CALIBRATION_SN = (3.0, 5.0, 8.0, 13.0, 20.0, 32.0, 50.0, 80.0)   # S/N of the added noise: Fig. 17's span
CALIBRATION_SPECTRA = 32      # K highest-S/N training spectra ...
CALIBRATION_CANDIDATES = 4000  # ... among this many evenly spaced training rows
CALIBRATION_DRAWS = 24        # R noisy copies per spectrum and level
CALIBRATION_SEED = 0          # the generator of the copies' noise (fit's default)
SLOPES = np.linspace(0.0, 2.0, 401)   # the grid of b_k


def spectrum_sn(x, w):
    """Median over good pixels (w > 0) of |x| sqrt(w), per spectrum.  (N, D) -> (N,); 0 without any."""
    good = np.asarray(w) > 0                                                   # (N, D)
    sn = np.where(good, np.abs(x) * np.sqrt(np.maximum(w, 0)), np.nan)        # (N, D)
    out = np.zeros(len(sn))                                                   # (N,)
    some = good.any(axis=1)
    out[some] = np.nanmedian(sn[some], axis=1)
    return out


def _noisy_copies(x, w, sn, n_draws, rng):
    """R copies of x (D,) with white noise of S/N ``sn`` (sigma = median_good |x| / sn), and their weights.

    Returns x' (R, D) and w' = w / (1 + w sigma^2) broadcast to (R, D), in x's dtype.
    """
    good = w > 0
    sigma = np.median(np.abs(x[good] if good.any() else x)) / sn
    noisy = x + sigma * rng.standard_normal((n_draws, x.size))                # (R, D)
    w_noisy = np.broadcast_to(w / (1 + w * sigma ** 2), noisy.shape)          # (R, D)
    return noisy.astype(x.dtype), w_noisy.astype(x.dtype)


def calibration_draws(model, X, W, sn_levels, n_draws, rng):
    """Encode R noisy copies of each spectrum at each level.

    Returns, all float64: var_of_means (L, K, Z) = Var_r mu; sq_error (L, K, Z) = mean_r of
    (mu - mu0)^2, mu0 the encoding of the spectrum as given; logvar (L, K, R, Z).
    """
    n_lev, k, z = len(sn_levels), len(X), model.n_latent
    var_mu, sq_err = np.empty((n_lev, k, z)), np.empty((n_lev, k, z))
    logvar = np.empty((n_lev, k, n_draws, z))
    mu0 = np.asarray(model.encode(X, W)[0], np.float64)                                 # (K, Z)
    for i, sn in enumerate(sn_levels):
        for j in range(k):
            mu, lv = model.encode(*_noisy_copies(X[j], W[j], sn, n_draws, rng))   # (R, Z) each
            mu = np.asarray(mu, np.float64)
            var_mu[i, j] = np.var(mu, axis=0, ddof=1)
            sq_err[i, j] = np.mean((mu - mu0[j]) ** 2, axis=0)
            logvar[i, j] = lv
    return var_mu, sq_err, logvar


def fit_logvar_line(goal, logvar, slopes=SLOPES):
    """(a, b), each (Z,), minimising sum over levels of log^2 of the ratio (module docstring).

    Parameters
    ----------
    goal : (L, K, Z) what the reported variance should match, per spectrum and level
        (Var_r of the latent means, or their mean squared error).
    logvar : (L, K, R, Z) the log-variances the encoder reported for the copies.
    slopes : (G,) grid of b.

    Returns
    -------
    a, b : (Z,) the line; (0, 1), no change, for a latent whose best b is on an end of the grid.
    identified : (Z,) bool, False for those latents.
    """
    z = goal.shape[-1]
    log_num = np.log(np.maximum(goal.mean(axis=1), np.finfo(float).tiny))           # (L, Z)
    lv = logvar.reshape(len(logvar), -1, z)                                           # (L, K R, Z)
    a, b, cost = np.zeros(z), np.zeros(z), np.full(z, np.inf)
    for slope in slopes:
        top = (slope * lv).max(axis=1)                                                # (L, Z) stable log-mean-exp
        log_den = top + np.log(np.exp(slope * lv - top[:, None]).mean(axis=1))         # (L, Z) at a = 0
        offset = (log_num - log_den).mean(axis=0)                                     # (Z,) best a for this b
        c = ((log_num - log_den - offset) ** 2).sum(axis=0)                           # (Z,)
        better = c < cost
        a[better], b[better], cost[better] = offset[better], slope, c[better]
    identified = (b > slopes[0]) & (b < slopes[-1])                                   # (Z,)
    a[~identified], b[~identified] = 0.0, 1.0
    return a, b, identified


def fold_logvar_line(model, a, b):
    """logvar -> a + b logvar, folded into the log-variance head in place (W * b, a + b * bias)."""
    p = model.params
    p["logvar.W"] *= np.asarray(b, model.dtype)                                       # (H, Z)
    p["logvar.b"][...] = np.asarray(a + b * p["logvar.b"].astype(np.float64), model.dtype)   # (Z,)


def calibrate_logvar(model, X, W=None, rng=CALIBRATION_SEED, sn_levels=CALIBRATION_SN,
                     n_spectra=CALIBRATION_SPECTRA, n_draws=CALIBRATION_DRAWS, target="scatter"):
    """Fit the log-variance line on noisy copies of training spectra and fold it into ``model``.

    Parameters
    ----------
    model : a fitted noise-aware InfoVAE (changed in place).
    X, W : (N, D) training spectra and weights (W None: ones); rows may be lazy (sharded).
    rng : Generator or int seed of the copies' noise.
    sn_levels : (L,) S/N of the added noise; n_spectra : K; n_draws : R.
    target : "scatter" (default) matches the reported variance to Var_r mu, the variance of the
        latent means over the copies (the Fig. 17 ratio); "error" to mean_r (mu - mu0)^2, their
        mean squared distance from the encoding of the spectrum as given (scatter plus bias^2).

    Returns
    -------
    dict, the record kept in the model file: ``a``, ``b`` (Z,) lists, ``identified`` (Z,)
    (False: the latent was left uncalibrated, a = 0, b = 1; module docstring), ``sn_levels``,
    ``n_spectra``, ``n_draws``, ``target``, and ``ratio_before`` / ``ratio_after`` (L, Z)
    lists, the ratio of the target (variance or squared error) to the mean reported variance on
    these copies.
    """
    if target not in ("scatter", "error"):
        raise NpvaeError(f"the calibration target must be 'scatter' or 'error', not {target!r}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    rows = np.unique(np.linspace(0, len(X) - 1, min(len(X), CALIBRATION_CANDIDATES)).astype(int))  # (N_c,)
    x = np.asarray(X[rows], model.dtype)                                             # (N_c, D)
    w = np.ones_like(x) if W is None else np.asarray(W[rows], model.dtype)          # (N_c, D)
    top = np.argsort(-spectrum_sn(x, w), kind="stable")[:int(n_spectra)]           # (K,)
    var_mu, sq_err, logvar = calibration_draws(model, x[top], w[top], sn_levels, int(n_draws), rng)
    goal = var_mu if target == "scatter" else sq_err                                 # (L, K, Z)
    a, b, identified = fit_logvar_line(goal, logvar)
    fold_logvar_line(model, a, b)
    before = goal.mean(axis=1) / np.exp(logvar).mean(axis=(1, 2))                    # (L, Z)
    after = goal.mean(axis=1) / np.exp(a + b * logvar).mean(axis=(1, 2))             # (L, Z)
    return {"a": a.tolist(), "b": b.tolist(), "identified": identified.tolist(),
            "sn_levels": [float(s) for s in sn_levels],
            "n_spectra": int(len(top)), "n_draws": int(n_draws), "target": target,
            "ratio_before": before.tolist(), "ratio_after": after.tolist()}
