"""Noise sensitivity of the encoder: does the reported latent variance track added noise? (Fig. 17)

Following the paper (Sec. 3.4) one spectrum x (the highest-S/N validation spectrum) gets
R realisations of white Gaussian noise at each of L signal-to-noise levels, every noisy copy
is encoded, and per level and latent dimension we compare

* the Monte Carlo variance of the latent means, Var_r[mu(x + n_r)], with
* the variance the encoder reports, mean_r exp(logvar(x + n_r)),

and measure the bias (mean_r mu(x + n_r) - mu(x)) / std(x), std(x) = exp(logvar(x) / 2).

S/N definition: at level s the added noise has one standard deviation for all pixels,
sigma_s = median_{good d} |x_d| / s, so s is the median per-pixel S/N of the added noise
(the noise already in x is ignored; ``sn_effective`` also counts it through the weights,
s_eff = median_d [|x_d| / sqrt(sigma_s^2 + 1 / w_d)] over good pixels). Noise is added to every pixel, good or not,
since the encoder sees every pixel. A noise-aware encoder (``InfoVAE(noise_aware=True)``,
docs/noise_aware.md) also reads the weights: with ``with_weights=True`` it is called as
encode(x_r, w'), w' = w / (1 + w sigma_s^2), the weights of the noisier copy. Doc: docs/analysis.md.

The calibration check over many spectra (:func:`coverage_by_sn`): given latent means and
log-variances of N spectra and the latents of their noiseless ("true") counterparts, the
fraction of true latents inside the reported 1-sigma interval, per latent and in bins of S/N
(0.683 for an honest Gaussian posterior); :func:`add_noise` makes the noisier copies of a set
of spectra, one S/N per spectrum. docs/noise_aware.md.

Shapes: N spectra, D pixels, Z latent dimensions, L noise levels, R realisations per level,
C chunk rows, G S/N bins.
"""
from dataclasses import dataclass

import numpy as np

from npvae.train.calibrate import spectrum_sn
from npvae.utils import NpvaeError, as_generator, progress

__all__ = ["NoiseSensitivity", "noise_sensitivity", "added_noise_sigma", "add_noise", "spectrum_sn",
           "SnCoverage", "coverage_by_sn"]


@dataclass
class NoiseSensitivity:
    """Result of :func:`noise_sensitivity`; arrays are (L, Z) unless noted.

    Attributes
    ----------
    sn_levels : (L,) requested S/N of the added noise; sigma : (L,) its standard deviation.
    sn_effective : (L,) median S/N counting the spectrum's own noise (NaN without weights).
    var_of_means : Var_r of the latent means.
    mean_reported_var : mean_r of exp(logvar).
    ratio : var_of_means / mean_reported_var (> 1: the encoder under-reports its uncertainty).
    bias : (mean_r mu - mu_clean) / std_clean.
    bias_stderr : standard error of ``bias`` from the finite R.
    mu_clean, std_clean : (Z,) encoding of the noiseless spectrum.
    constrained : (Z,) bool, dimensions with std_clean < ``std_threshold`` (prior std is 1).
    n_draws : int, R.
    """

    sn_levels: np.ndarray
    sigma: np.ndarray
    sn_effective: np.ndarray
    var_of_means: np.ndarray
    mean_reported_var: np.ndarray
    ratio: np.ndarray
    bias: np.ndarray
    bias_stderr: np.ndarray
    mu_clean: np.ndarray
    std_clean: np.ndarray
    constrained: np.ndarray
    n_draws: int

    def crossing_sn(self, dim):
        """S/N where log(ratio) of latent ``dim`` crosses 0, by linear interpolation in log S/N.

        NaN when the ratio stays on one side of 1 over the levels.
        """
        order = np.argsort(self.sn_levels)
        logsn = np.log(self.sn_levels[order])
        logr = np.log(self.ratio[order, dim])
        sign = np.sign(logr)
        hits = np.flatnonzero(sign[:-1] * sign[1:] < 0)
        if hits.size == 0:
            return np.nan
        i = hits[0]
        frac = logr[i] / (logr[i] - logr[i + 1])
        return float(np.exp(logsn[i] + frac * (logsn[i + 1] - logsn[i])))


def added_noise_sigma(x, sn, good=None):
    """sigma = median_{good d} |x_d| / sn, the per-pixel noise std at median S/N ``sn``."""
    x = np.asarray(x, dtype=np.float64)
    good = np.ones(x.shape, bool) if good is None else np.asarray(good, bool)
    if not good.any():
        raise NpvaeError("the spectrum has no good pixel to define its median flux")
    level = np.median(np.abs(x[good]))
    if not level > 0:
        raise NpvaeError("the spectrum's median |flux| over good pixels is 0: S/N is undefined")
    sn = np.asarray(sn, dtype=np.float64)
    if np.any(~(sn > 0)):
        raise NpvaeError(f"S/N levels must be positive, got {sn.tolist()}")
    return level / sn


def _encode_checked(encode, X, z=None, W=None):
    """Call ``encode`` (with W (C, D) when given) and check it returns (mu, logvar), both (C, Z)."""
    mu, logvar = encode(X) if W is None else encode(X, W)
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    if mu.shape != logvar.shape or mu.ndim != 2 or mu.shape[0] != X.shape[0] \
            or (z is not None and mu.shape[1] != z):
        raise NpvaeError(f"encode must return (mu, logvar) of shape ({X.shape[0]}, Z), "
                         f"got {mu.shape} and {logvar.shape}")
    return mu, logvar


def _encode_level(encode, x, sigma, n_draws, rng, chunk, z, w=None):
    """Encode R noisy copies x + sigma n in chunks of C rows; returns mu, logvar (R, Z).

    With weights w (D,), encode also gets the copies' weights w / (1 + w sigma^2), (C, D).
    """
    mus, logvars = np.empty((n_draws, z)), np.empty((n_draws, z))
    w_noisy = None if w is None else (w / (1 + w * sigma ** 2)).astype(x.dtype)   # (D,)
    for start in range(0, n_draws, chunk):
        rows = min(chunk, n_draws - start)
        noisy = rng.standard_normal((rows, x.shape[0]), dtype=x.dtype)   # (C, D)
        noisy *= x.dtype.type(sigma)
        noisy += x                                                        # (C, D)
        W = None if w_noisy is None else np.broadcast_to(w_noisy, noisy.shape)     # (C, D)
        mus[start:start + rows], logvars[start:start + rows] = _encode_checked(encode, noisy, z, W)
    return mus, logvars


def noise_sensitivity(encode, x, w=None, sn_levels=(2, 4, 6, 8, 10, 15, 20, 30, 50, 80),
                      n_draws=10_000, rng=None, chunk=4096, std_threshold=0.5, verbose=False,
                      with_weights=False):
    """Encode many white-noise realisations of one spectrum at several S/N levels.

    For each level s: sigma_s = median_good |x| / s, x_r = x + sigma_s n_r with n_r ~ N(0, I),
    (mu_r, logvar_r) = encode(x_r), r = 1..R, then

    .. math::

        V_{s,k} = \\mathrm{Var}_r[\\mu_{r,k}], \\quad
        \\bar\\sigma^2_{s,k} = \\langle e^{\\mathrm{logvar}_{r,k}} \\rangle_r, \\quad
        b_{s,k} = (\\langle\\mu_{r,k}\\rangle_r - \\mu_k(x)) / \\sigma_k(x).

    Parameters
    ----------
    encode : callable, X (C, D) -> (mu (C, Z), logvar (C, Z)).
    x : (D,) the spectrum (its dtype, e.g. float32, is kept for the encoder).
    w : (D,) inverse-variance weights; pixels with w > 0 define the median flux. Optional.
    sn_levels : (L,) S/N of the added noise.
    n_draws : int, R realisations per level (10,000 in the paper).
    rng : np.random.Generator, int seed or None.
    chunk : int, rows encoded per call (bounds memory at C x D).
    std_threshold : float, a dimension is "constrained" if its clean std is below this.
    with_weights : bool, call encode(X, W) with the weights of each copy, w / (1 + w sigma_s^2)
        (and w itself for x): for a noise-aware encoder. Needs ``w``.

    Returns
    -------
    NoiseSensitivity
    """
    x = np.asarray(x)
    x = x.astype(np.float64) if x.dtype.kind != "f" else x
    if x.ndim != 1 or not np.isfinite(x).all():
        raise NpvaeError(f"x must be one finite spectrum (D,), got shape {x.shape}")
    if int(n_draws) < 2 or int(chunk) < 1:
        raise NpvaeError(f"need n_draws >= 2 and chunk >= 1, got {n_draws}, {chunk}")
    if with_weights and w is None:
        raise NpvaeError("with_weights=True needs the spectrum's weights w")
    good = None if w is None else np.asarray(w, np.float64) > 0
    if good is not None and good.shape != x.shape:
        raise NpvaeError(f"w has shape {np.shape(w)}, x has {x.shape}")
    sn = np.atleast_1d(np.asarray(sn_levels, dtype=np.float64))             # (L,)
    sigma = added_noise_sigma(x, sn, good)                                  # (L,)
    rng = as_generator(rng)
    w_enc = np.asarray(w, np.float64) if with_weights else None             # (D,) for the encoder
    w0 = None if w_enc is None else w_enc[None].astype(x.dtype)             # (1, D)
    mu0, logvar0 = _encode_checked(encode, x[None], None, w0)               # (1, Z)
    z = mu0.shape[1]
    std0 = np.exp(0.5 * logvar0[0])                                         # (Z,)
    shape = (sn.size, z)
    var_mu, rep_var, mean_mu = np.empty(shape), np.empty(shape), np.empty(shape)
    for i in progress(range(sn.size), desc="noise levels", verbose=verbose):
        mus, logvars = _encode_level(encode, x, sigma[i], int(n_draws), rng, int(chunk), z, w_enc)
        var_mu[i] = mus.var(axis=0, ddof=1)
        rep_var[i] = np.exp(logvars).mean(axis=0)
        mean_mu[i] = mus.mean(axis=0)
    return NoiseSensitivity(
        sn_levels=sn, sigma=sigma, sn_effective=_sn_effective(x, w, sigma),
        var_of_means=var_mu, mean_reported_var=rep_var, ratio=var_mu / rep_var,
        bias=(mean_mu - mu0) / std0, bias_stderr=np.sqrt(var_mu / int(n_draws)) / std0,
        mu_clean=mu0[0], std_clean=std0, constrained=std0 < std_threshold,
        n_draws=int(n_draws))


def _sn_effective(x, w, sigma):
    """median_good |x| / sqrt(sigma^2 + 1/w) for each sigma (L,); NaN without weights."""
    if w is None:
        return np.full(sigma.shape, np.nan)
    w = np.asarray(w, np.float64)
    good = w > 0
    noise = np.sqrt(sigma[:, None] ** 2 + 1.0 / w[good][None, :])          # (L, D_good)
    return np.median(np.abs(x[good])[None, :] / noise, axis=1)


def add_noise(X, W, sn, rng=None):
    """Noisier copies of N spectra: white noise of S/N ``sn[n]`` added to spectrum n.

    sigma_n = median_{good d} |x_nd| / sn_n (:func:`added_noise_sigma`), X' = X + sigma n,
    W' = W / (1 + W sigma^2) (the summed variance; a weight of 0 stays 0).

    Parameters
    ----------
    X, W : (N, D) spectra and inverse-variance weights.
    sn : (N,) or scalar, S/N of the added noise.
    rng : Generator, int seed or None.

    Returns
    -------
    X', W' : (N, D) in X's dtype; sigma : (N,) float64.
    """
    X, W = np.asarray(X), np.asarray(W)
    if X.shape != W.shape or X.ndim != 2:
        raise NpvaeError(f"X and W must be (N, D) of one shape, got {X.shape} and {W.shape}")
    sn = np.broadcast_to(np.asarray(sn, np.float64), (len(X),))              # (N,)
    sigma = np.array([added_noise_sigma(x, s, w > 0) for x, w, s in zip(X, W, sn)])   # (N,)
    rng = as_generator(rng)
    noisy = X + sigma[:, None] * rng.standard_normal(X.shape)                 # (N, D)
    w_noisy = W / (1 + W * sigma[:, None] ** 2)                               # (N, D)
    return noisy.astype(X.dtype), w_noisy.astype(X.dtype), sigma


@dataclass
class SnCoverage:
    """Result of :func:`coverage_by_sn`; arrays are (G, Z) unless noted.

    Attributes
    ----------
    sn_edges : (G + 1,) bin edges. count : (G,) spectra per bin.
    coverage : fraction of spectra with |mu - truth| <= sigma (0.683 if honest).
    coverage_mean : (G,) the same over all latents.
    rms_pull : sqrt(mean ((mu - truth) / sigma)^2) (1 if honest and unbiased).
    mean_std : mean reported sigma.
    """

    sn_edges: np.ndarray
    count: np.ndarray
    coverage: np.ndarray
    coverage_mean: np.ndarray
    rms_pull: np.ndarray
    mean_std: np.ndarray


def coverage_by_sn(mu, logvar, truth, sn, sn_edges):
    """Fraction of true latents inside the reported 1-sigma interval, in bins of S/N.

    Parameters
    ----------
    mu, logvar : (N, Z) the encodings of N (noisy) spectra.
    truth : (N, Z) the latents of their noiseless counterparts (e.g. the encoding of the
        noiseless synthetic spectrum, or of a much less noisy copy).
    sn : (N,) the S/N of each spectrum (e.g. :func:`spectrum_sn`); bins are [edge_g, edge_g+1).
    sn_edges : (G + 1,) increasing bin edges.

    Returns
    -------
    SnCoverage (empty bins hold NaN).
    """
    mu, logvar, truth = (np.asarray(a, np.float64) for a in (mu, logvar, truth))
    if mu.ndim != 2 or mu.shape != logvar.shape or mu.shape != truth.shape:
        raise NpvaeError(f"mu, logvar and truth must be (N, Z) of one shape, got {mu.shape}, "
                         f"{logvar.shape} and {truth.shape}")
    sn, edges = np.asarray(sn, np.float64), np.asarray(sn_edges, np.float64)
    if sn.shape != (len(mu),):
        raise NpvaeError(f"sn must be ({len(mu)},), got {sn.shape}")
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise NpvaeError(f"sn_edges must be at least two increasing numbers, got {edges.tolist()}")
    std = np.exp(0.5 * logvar)                                               # (N, Z)
    pull = (mu - truth) / std                                                # (N, Z)
    g, z = edges.size - 1, mu.shape[1]
    count = np.zeros(g, int)
    coverage, rms, mean_std = np.full((g, z), np.nan), np.full((g, z), np.nan), np.full((g, z), np.nan)
    which = np.searchsorted(edges, sn, side="right") - 1                     # (N,) bin, -1 or g outside
    for b in range(g):
        rows = which == b
        count[b] = rows.sum()
        if count[b]:
            coverage[b] = np.mean(np.abs(pull[rows]) <= 1, axis=0)
            rms[b] = np.sqrt(np.mean(pull[rows] ** 2, axis=0))
            mean_std[b] = std[rows].mean(axis=0)
    return SnCoverage(sn_edges=edges, count=count, coverage=coverage, coverage_mean=coverage.mean(axis=1),
                      rms_pull=rms, mean_std=mean_std)
