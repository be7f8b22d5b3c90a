"""Tests of npvae.nn.losses: a gradient check of each term alone, then tests of meaning.

Gradient checks: float64, central differences, a random upstream ``scale`` (scalars) or a
random upstream array (reparameterization). Meaning: the KL closed form against Monte Carlo,
MMD(x, x) = 0 and its growth with a shift, the moments of reparameterized samples, and the
reconstruction term against the full Gaussian negative log-likelihood.
Shapes: B batch, D pixels, Z latent, M prior samples, N Monte Carlo draws.
"""
import numpy as np
import pytest
from scipy import stats

from npvae.nn import losses
from npvae.nn.gradcheck import check_function, check_layer

TOL = 1e-6
B, D, Z, M = 6, 30, 3, 10


def test_gaussian_nll_gradient_matches_central_differences():
    rng = np.random.default_rng(0)
    x, xhat = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    w = rng.uniform(0.0, 3.0, (B, D))
    scale = rng.uniform(0.5, 2.0)
    _, dxhat = losses.gaussian_nll(x, xhat, w, scale)
    errors = check_function(lambda: scale * losses.gaussian_nll(x, xhat, w, scale)[0],
                            {"xhat": xhat}, {"xhat": dxhat})
    assert errors["xhat"] <= TOL, errors


def test_kl_gradients_match_central_differences():
    rng = np.random.default_rng(1)
    mu, logvar = rng.standard_normal((B, Z)), rng.uniform(-2, 1, (B, Z))
    scale = rng.uniform(0.5, 2.0)
    _, dmu, dlogvar = losses.kl_to_standard_normal(mu, logvar, scale)
    errors = check_function(lambda: scale * losses.kl_to_standard_normal(mu, logvar, scale)[0],
                            {"mu": mu, "logvar": logvar}, {"mu": dmu, "logvar": dlogvar})
    assert max(errors.values()) <= TOL, errors


def test_mmd_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    z, prior = rng.standard_normal((B, Z)), rng.standard_normal((M, Z))
    scale = rng.uniform(0.5, 2.0)
    _, dz = losses.mmd_rbf(z, prior, scale)
    errors = check_function(lambda: scale * losses.mmd_rbf(z, prior, scale)[0], {"z": z}, {"z": dz})
    assert errors["z"] <= TOL, errors


def test_mmd_adds_its_gradient_to_the_given_buffer():
    rng = np.random.default_rng(3)
    z, prior = rng.standard_normal((B, Z)), rng.standard_normal((M, Z))
    dz0 = rng.standard_normal((B, Z))
    _, alone = losses.mmd_rbf(z, prior, 1.5)
    _, added = losses.mmd_rbf(z, prior, 1.5, dz0.copy())
    np.testing.assert_allclose(added, dz0 + alone, rtol=1e-13, atol=1e-15)


def test_reparameterize_gradients_match_central_differences():
    rng = np.random.default_rng(4)
    eps = rng.standard_normal((B, Z))
    inputs = {"mu": rng.standard_normal((B, Z)), "logvar": rng.uniform(-2, 1, (B, Z))}
    errors = check_layer(lambda mu, logvar: losses.reparameterize(mu, logvar, eps),
                         losses.reparameterize_backward, inputs, rng=rng)
    assert max(errors.values()) <= TOL, errors


# --- tests of meaning ---------------------------------------------------------------------------
def test_kl_closed_form_equals_monte_carlo_estimate():
    rng = np.random.default_rng(5)
    mu, logvar = rng.standard_normal((B, Z)), rng.uniform(-1.5, 1.0, (B, Z))
    n = 200_000
    std = np.exp(0.5 * logvar)
    z = mu + std * rng.standard_normal((n, B, Z))                        # (N, B, Z) draws of q
    log_q = stats.norm.logpdf(z, mu, std).sum(-1)                        # (N, B)
    log_p = stats.norm.logpdf(z).sum(-1)                                 # (N, B)
    per_draw = (log_q - log_p).mean(1)                                   # (N,) batch-mean KL
    estimate, std_err = per_draw.mean(), per_draw.std(ddof=1) / np.sqrt(n)
    kl, _, _ = losses.kl_to_standard_normal(mu, logvar)
    assert abs(kl - estimate) < 5 * std_err, (kl, estimate, std_err)
    assert std_err < 0.01 * kl                                           # the test has teeth


def test_kl_is_zero_for_standard_normal_and_positive_otherwise():
    zeros = np.zeros((B, Z))
    assert losses.kl_to_standard_normal(zeros, zeros)[0] == 0.0
    assert losses.kl_to_standard_normal(zeros + 0.1, zeros)[0] > 0.0
    assert losses.kl_to_standard_normal(zeros, zeros + 0.1)[0] > 0.0


def test_mmd_is_zero_for_identical_samples():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((M, Z))
    mmd, dz = losses.mmd_rbf(x.copy(), x)
    assert abs(mmd) < 1e-14
    np.testing.assert_allclose(dz, 0.0, atol=1e-14)      # a minimum: the gradient vanishes


def test_mmd_grows_monotonically_with_a_shift_of_z():
    rng = np.random.default_rng(7)
    prior = rng.standard_normal((M, Z))
    direction = rng.standard_normal(Z)
    direction /= np.linalg.norm(direction)
    shifts = np.linspace(0.0, 4.0, 17)
    values = [losses.mmd_rbf(prior + s * direction, prior)[0] for s in shifts]
    assert abs(values[0]) < 1e-14
    assert np.all(np.diff(values) > 0), values
    assert values[-1] > 0.5                                # far apart: near 2 - 2 k(z,p) -> large


def test_reparameterized_samples_have_mean_mu_and_variance_exp_logvar():
    rng = np.random.default_rng(8)
    n = 400_000
    mu = np.array([0.5, -1.0, 2.0])
    logvar = np.array([-1.0, 0.0, 1.2])
    z, _ = losses.reparameterize(np.tile(mu, (n, 1)), np.tile(logvar, (n, 1)),
                                 rng.standard_normal((n, Z)))           # (N, Z)
    var = np.exp(logvar)
    mean_se = np.sqrt(var / n)
    var_se = var * np.sqrt(2.0 / (n - 1))
    assert np.all(np.abs(z.mean(0) - mu) < 5 * mean_se), (z.mean(0), mu)
    assert np.all(np.abs(z.var(0, ddof=1) - var) < 5 * var_se), (z.var(0, ddof=1), var)
    # the classic mistake, exp(logvar) used as the standard deviation, is far outside
    assert np.all(np.abs(var ** 2 - var)[[0, 2]] > 50 * var_se[[0, 2]])


def test_gaussian_nll_equals_negative_log_likelihood_minus_constants():
    rng = np.random.default_rng(9)
    x, xhat = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    w = rng.uniform(0.2, 5.0, (B, D))
    sigma = 1.0 / np.sqrt(w)
    nll = -stats.norm.logpdf(x, xhat, sigma).sum() / B
    constants = (0.5 * np.log(2 * np.pi) - 0.5 * np.log(w)).sum() / B
    recon, _ = losses.gaussian_nll(x, xhat, w)
    assert recon == pytest.approx(nll - constants, rel=1e-12)


def test_gaussian_nll_ignores_pixels_with_zero_weight():
    rng = np.random.default_rng(10)
    x, xhat = rng.standard_normal((B, D)), rng.standard_normal((B, D))
    w = rng.uniform(0.2, 5.0, (B, D))
    w[:, :7] = 0.0
    xhat_bad = xhat.copy()
    xhat_bad[:, :7] = 1e6                                  # wild values on bad pixels
    recon, dxhat = losses.gaussian_nll(x, xhat_bad, w)
    assert recon == pytest.approx(losses.gaussian_nll(x[:, 7:], xhat[:, 7:], w[:, 7:])[0], rel=1e-12)
    assert np.all(dxhat[:, :7] == 0.0)


def test_term_weights_follow_the_infovae_objective():
    assert losses.term_weights(3.02, 0.0, 6) == pytest.approx((1.0, 1.0, 2.02 * 6))
    assert losses.term_weights(2.0, 0.5, 4) == pytest.approx((1.0, 0.5, 1.5 * 4))
