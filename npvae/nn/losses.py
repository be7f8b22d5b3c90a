"""The three terms of the InfoVAE objective, each with its analytic gradient.

For a batch of B spectra with D pixels and Z latent dimensions, with M prior samples:

    total = recon + (1 - alpha) kl + (alpha + lam - 1) Z mmd          (paper eq. 12)

``recon`` is the Gaussian negative log-likelihood, the L(x, x') of paper eq. 10
(docs/derivations/gaussian_nll.md), ``kl`` the closed-form KL divergence to N(0, I) of paper
eq. 11 (kl.md), ``mmd`` the biased maximum mean discrepancy of paper eq. 13 with an RBF kernel
(mmd.md), and ``reparameterize`` draws z as paper eq. 8 says (reparameterization.md).
The whole objective and how the gradients meet: docs/derivations/infovae_objective.md.

Every function returns the value and the gradients with respect to its inputs, for an
upstream gradient ``scale`` of the scalar loss (1 by default).
"""
import numpy as np

from . import kernels

__all__ = ["gaussian_nll", "kl_to_standard_normal", "mmd_rbf", "reparameterize",
           "reparameterize_backward", "term_weights"]


def gaussian_nll(x, xhat, w, scale=1.0, dxhat=None):
    """Weighted squared error, the Gaussian negative log-likelihood without constants.

    The reconstruction loss L(x, x') of paper eqs. 10 and 12, half a chi^2;
    docs/derivations/gaussian_nll.md.

    .. math::
        \\mathrm{recon} = \\frac{1}{B} \\sum_b \\sum_j \\tfrac12 w_{bj} (x_{bj} - \\hat x_{bj})^2,
        \\qquad \\frac{\\partial\\,\\mathrm{recon}}{\\partial \\hat x_{bj}} = \\frac{w_{bj}}{B}(\\hat x_{bj} - x_{bj})

    Parameters
    ----------
    x, xhat, w : ndarray (B, D)
        Data, reconstruction and inverse-variance weights (0 on bad pixels).
    scale : float
        Upstream gradient of the loss.
    dxhat : ndarray (B, D), optional
        Output buffer for the gradient.

    Returns
    -------
    recon : float
    dxhat : ndarray (B, D)
        ``scale * d recon / d xhat``.
    """
    n_batch = x.shape[0]
    if dxhat is None:
        dxhat = np.empty_like(xhat)
    total = kernels.weighted_residual(x, xhat, w, scale / n_batch, dxhat)
    return total / n_batch, dxhat


def kl_to_standard_normal(mu, logvar, scale=1.0):
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over Z, averaged over B.

    Paper eq. 11 in closed form for q of paper eq. 8; docs/derivations/kl.md.

    .. math::
        \\mathrm{KL} = -\\frac{1}{2B} \\sum_b \\sum_k (1 + \\log\\sigma^2_{bk} - \\mu_{bk}^2 - \\sigma^2_{bk}),
        \\quad \\partial_\\mu = \\mu / B, \\quad \\partial_{\\log\\sigma^2} = (\\sigma^2 - 1) / (2B)

    Returns the value and ``scale`` times dKL/dmu, dKL/dlogvar, both (B, Z).
    """
    n_batch = mu.shape[0]
    var = np.exp(logvar)                                        # (B, Z)
    kl = -0.5 * float(np.sum(1.0 + logvar - mu * mu - var, dtype=np.float64)) / n_batch
    dmu = (scale / n_batch) * mu                                # (B, Z)
    dlogvar = (0.5 * scale / n_batch) * (var - 1.0)             # (B, Z)
    return kl, dmu, dlogvar


def mmd_rbf(z, prior, scale=1.0, dz=None, prior_term=None):
    """Biased MMD^2 between latent samples and prior samples, with its gradient in z.

    Paper eq. 13 with u = z, v = prior and kappa an RBF kernel; docs/derivations/mmd.md.

    .. math::
        \\mathrm{MMD}^2 = \\overline{k(z_i, z_j)} + \\overline{k(p_i, p_j)} - 2\\,\\overline{k(z_i, p_j)},
        \\qquad k(a, b) = \\exp(-\\lVert a - b \\rVert^2 / Z)

    (bars are means over all pairs, diagonal included: the V-statistic).

    Parameters
    ----------
    z : ndarray (B, Z)
    prior : ndarray (M, Z)
        Samples of N(0, I); data, no gradient.
    scale : float
        Upstream gradient.
    dz : ndarray (B, Z), optional
        Gradient buffer: the result is ADDED to it (z also feeds the decoder).
    prior_term : float, optional
        :math:`\\overline{k(p_i, p_j)}` from ``kernels.prior_kernel_mean(prior)``, for a prior
        sample used many times (it does not depend on z); computed here if None.

    Returns
    -------
    mmd : float
    dz : ndarray (B, Z)
    """
    if dz is None:
        dz = np.zeros_like(z)
    k_zz, k_zp = kernels.mmd_rbf_terms(z, prior, scale, dz)
    k_pp = kernels.prior_kernel_mean(prior) if prior_term is None else prior_term
    return k_zz + k_pp - 2.0 * k_zp, dz


def reparameterize(mu, logvar, eps):
    """z = mu + exp(logvar / 2) * eps, with the noise eps (B, Z) given. Returns z and a cache.

    A draw of paper eq. 8, z ~ N(mu, diag(exp(logvar))); docs/derivations/reparameterization.md.
    """
    std = np.exp(0.5 * logvar)                                  # (B, Z)
    z = mu + std * eps                                          # (B, Z)
    return z, (std, eps)


def reparameterize_backward(dz, cache):
    """dmu = dz, dlogvar = dz * eps * exp(logvar / 2) / 2.  dz (B, Z) -> (dmu, dlogvar).

    Backward of paper eq. 8; docs/derivations/reparameterization.md.
    """
    std, eps = cache
    return dz, 0.5 * dz * std * eps


def term_weights(lam, alpha, n_latent):
    """Coefficients of the terms in the total: (1, 1 - alpha, (alpha + lam - 1) Z).

    Paper eq. 12 (the factor Z on the MMD: docs/derivations/mmd.md); at alpha = 0, lam = 1 the
    total is the ELBO of paper eq. 10. docs/derivations/infovae_objective.md.
    """
    return 1.0, 1.0 - alpha, (alpha + lam - 1.0) * n_latent
