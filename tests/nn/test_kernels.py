"""Every Numba kernel of npvae.nn.kernels against its NumPy ``*_reference`` twin, float32 and float64.

Inputs are random; outputs written in place start as garbage (or, for the kernels that ADD to
their output, as random values) so an unwritten or overwritten entry shows. Tolerances are
relative to the size of the result: 1e-12 in float64, 1e-5 in float32.
Shapes: B batch, O units, D pixels, Z latent, M prior samples, P parameters.
"""
import numba
import numpy as np
import pytest

from npvae.nn import kernels

DTYPES = [(np.float64, 1e-12), (np.float32, 1e-5)]
B, O, D, Z, M, P = 6, 7, 30, 3, 10, 1000


def _close(got, want, rtol, what=""):
    """Entries agree to rtol relative to the largest entry of the reference."""
    want = np.asarray(want)
    atol = rtol * max(float(np.abs(want).max()), 1e-30)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("slope", [0.0, 0.01])
def test_bias_act_forward_matches_reference(dtype, rtol, slope):
    rng = np.random.default_rng(0)
    y = rng.standard_normal((B, O)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    fast, ref = y.copy(), y.copy()
    kernels.bias_act_forward(fast, b, slope)
    kernels.bias_act_forward_reference(ref, b, slope)
    assert fast.dtype == dtype
    _close(fast, ref, rtol)
    u = y.astype(np.float64) + b
    _close(ref, np.where(u > 0, u, slope * u), max(rtol, 1e-7))   # and the twin is right


@pytest.mark.parametrize("dtype, rtol", DTYPES)
@pytest.mark.parametrize("slope", [0.0, 0.01])
def test_act_backward_bias_matches_reference(dtype, rtol, slope):
    rng = np.random.default_rng(1)
    dy = rng.standard_normal((B, O)).astype(dtype)
    y = rng.standard_normal((B, O)).astype(dtype)
    y[0, 0] = 0.0                                          # the kink itself: gradient slope
    dy_fast, dy_ref = dy.copy(), dy.copy()
    db_fast, db_ref = np.full(O, 1e3, dtype), np.full(O, -1e3, dtype)   # garbage: overwritten
    kernels.act_backward_bias(dy_fast, y, slope, db_fast)
    kernels.act_backward_bias_reference(dy_ref, y, slope, db_ref)
    np.testing.assert_array_equal(dy_fast, dy_ref)        # one product per entry: bit-identical
    _close(dy_fast, dy_ref, rtol, "dy")
    _close(db_fast, db_ref, rtol, "db")
    expected = np.where(y > 0, dy, slope * dy.astype(np.float64))
    _close(dy_ref, expected, max(rtol, 1e-7), "dy vs definition")
    _close(db_ref, expected.sum(0), max(rtol, 1e-6), "db vs definition")


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_weighted_residual_matches_reference(dtype, rtol):
    rng = np.random.default_rng(2)
    x, xhat = (rng.standard_normal((B, D)).astype(dtype) for _ in range(2))
    w = rng.uniform(0.0, 3.0, (B, D)).astype(dtype)
    w[0, :5] = 0.0                                         # bad pixels
    grad_scale = 0.37
    d_fast, d_ref = np.full((B, D), np.nan, dtype), np.full((B, D), np.nan, dtype)
    v_fast = kernels.weighted_residual(x, xhat, w, grad_scale, d_fast)
    v_ref = kernels.weighted_residual_reference(x, xhat, w, grad_scale, d_ref)
    assert isinstance(v_fast, float) and d_fast.dtype == dtype
    assert v_fast == pytest.approx(v_ref, rel=rtol)
    _close(d_fast, d_ref, rtol, "dxhat")
    r = xhat.astype(np.float64) - x
    assert v_ref == pytest.approx(0.5 * np.sum(w * r * r), rel=max(rtol, 1e-6))
    _close(d_ref, grad_scale * w * r, max(rtol, 1e-6), "dxhat vs definition")


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_mmd_rbf_terms_matches_reference_and_adds_to_dz(dtype, rtol):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((B, Z)).astype(dtype)
    p = rng.standard_normal((M, Z)).astype(dtype)
    dz0 = rng.standard_normal((B, Z)).astype(dtype)        # the decoder's gradient already there
    dz_fast, dz_ref = dz0.copy(), dz0.copy()
    t_fast = kernels.mmd_rbf_terms(z, p, 2.5, dz_fast)
    t_ref = kernels.mmd_rbf_terms_reference(z, p, 2.5, dz_ref)
    assert len(t_fast) == 2
    for a, b in zip(t_fast, t_ref):
        assert a == pytest.approx(b, rel=rtol)
    _close(dz_fast - dz0, dz_ref - dz0, max(rtol, 1e-6) if dtype == np.float32 else rtol)
    assert np.abs(dz_fast - dz0).max() > 1e-3               # it added something
    assert kernels.prior_kernel_mean(p) == pytest.approx(kernels.prior_kernel_mean_reference(p), rel=rtol)


@pytest.mark.parametrize("block", [1, 7, 40])
def test_mmd_kernels_in_blocks_of_rows_equal_the_reference(monkeypatch, block):
    """A large batch or prior sample is handled KERNEL_BLOCK kernel values at a time (memory
    O(B + M) per row); blocks of one row, of a few rows, and uneven last blocks agree too."""
    monkeypatch.setattr(kernels, "KERNEL_BLOCK", block)
    rng = np.random.default_rng(14)
    z, p = rng.standard_normal((B, Z)), rng.standard_normal((M, Z))
    dz0 = rng.standard_normal((B, Z))
    dz_fast, dz_ref = dz0.copy(), dz0.copy()
    t_fast = kernels.mmd_rbf_terms(z, p, 1.5, dz_fast)
    t_ref = kernels.mmd_rbf_terms_reference(z, p, 1.5, dz_ref)
    assert t_fast == pytest.approx(t_ref, rel=1e-12)
    _close(dz_fast - dz0, dz_ref - dz0, 1e-12)
    assert kernels.prior_kernel_mean(p) == pytest.approx(kernels.prior_kernel_mean_reference(p), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mmd_rbf_terms_value_only_call_skips_the_gradient(dtype):
    rng = np.random.default_rng(13)
    z = rng.standard_normal((B, Z)).astype(dtype)
    p = rng.standard_normal((M, Z)).astype(dtype)
    dz0 = rng.standard_normal((B, Z)).astype(dtype)
    dz = dz0.copy()
    values = kernels.mmd_rbf_terms(z, p, 0.0, dz)
    np.testing.assert_array_equal(dz, dz0)                  # untouched, not "+ 0 * gradient"
    assert values == kernels.mmd_rbf_terms(z, p, 1.0, dz0.copy())    # the same sums either way


def test_mmd_rbf_terms_reference_kernel_means_match_direct_sums():
    rng = np.random.default_rng(4)
    z, p = rng.standard_normal((B, Z)), rng.standard_normal((M, Z))

    def mean_k(a, c):
        return np.mean([[np.exp(-np.sum((ai - cj) ** 2) / Z) for cj in c] for ai in a])

    k_zz, k_zp = kernels.mmd_rbf_terms_reference(z, p, 1.0, np.zeros((B, Z)))
    k_pp = kernels.prior_kernel_mean_reference(p)
    assert (k_zz, k_pp, k_zp) == pytest.approx((mean_k(z, z), mean_k(p, p), mean_k(z, p)), rel=1e-13)


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_adam_update_matches_reference(dtype, rtol):
    rng = np.random.default_rng(5)
    p, g, m = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    v = rng.uniform(0.0, 2.0, P).astype(dtype)
    args = (1e-2, 0.9, 0.999, 1e-8)
    fast, ref = [a.copy() for a in (p, g, m, v)], [a.copy() for a in (p, g, m, v)]
    assert kernels.adam_update(*fast, *args) == 0                                  # a good step
    assert kernels.adam_update_reference(*ref, *[dtype(a) for a in args], np.finfo(dtype).tiny) == 0
    for got, want, what in zip(fast, ref, "pgmv"):
        assert got.dtype == dtype, what
        _close(got, want, rtol, what)
    np.testing.assert_array_equal(fast[1], g)                  # g is read only
    assert np.abs(fast[0] - p).max() > 1e-3                    # p moved


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_counts_the_entries_whose_second_moment_is_not_finite(dtype):
    """The divergence test of the training loop: NaN and infinite gradients, and finite ones whose
    square overflows the dtype (checked against the float64 / exact square), each counted once;
    a large but representable square is not. Same count from the NumPy twin."""
    rng = np.random.default_rng(12)
    p, g, m = (rng.standard_normal(P).astype(dtype) for _ in range(3))
    v = rng.uniform(0.0, 2.0, P).astype(dtype)
    huge_g = float(np.finfo(dtype).max) ** 0.5 * 2000.0             # (0.001 g) g > max: overflows
    fine_g = float(np.finfo(dtype).max) ** 0.5 * 10.0              # 0.001 g^2 = 0.1 max: fits
    planted = {3: np.nan, 50: np.inf, 51: -np.inf, 700: huge_g, 701: -huge_g, 900: fine_g}
    for i, value in planted.items():
        g[i] = value
    overflow = [i for i, x in planted.items() if not np.isfinite(x) or (x * 1e-3) * x > float(np.finfo(dtype).max)]
    assert len(overflow) == 5                                                      # the anchor, in Python floats
    twin = [a.copy() for a in (p, g, m, v)]
    with np.errstate(all="ignore"):
        assert kernels.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8) == len(overflow)
        assert kernels.adam_update_reference(*twin, *[dtype(a) for a in (1e-3, 0.9, 0.999, 1e-8)],
                                             np.finfo(dtype).tiny) == len(overflow)
    assert np.isfinite(v[900]) and np.isfinite(p[:3]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1000, 1 << 17])
def test_adam_sets_subnormal_moments_to_zero_without_moving_p_differently(dtype, size):
    """A dead unit (g = 0) has its moments decay into subnormals: they become 0, and p moves
    exactly as the textbook update (which keeps the subnormals) moves it, to p's resolution."""
    tiny = np.finfo(dtype).tiny
    rng = np.random.default_rng(8)
    p = rng.standard_normal(size).astype(dtype)
    g = np.zeros(size, dtype)
    m = np.full(size, 1.05 * tiny, dtype)             # 0.9 m is subnormal
    v = np.full(size, 1.0005 * tiny, dtype)           # 0.999 v is subnormal
    g[::2] = 1e-3                                              # half the units alive
    p0 = p.copy()
    p_text, m_text, v_text = p.copy(), m.copy(), v.copy()      # textbook, subnormals kept
    m_text = 0.9 * m_text + 0.1 * g
    v_text = 0.999 * v_text + 0.001 * g * g
    p_text -= dtype(1e-3) * m_text / (np.sqrt(v_text) + dtype(1e-8))
    kernels.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8)
    assert (m[1::2] == 0).all() and (v[1::2] == 0).all()     # dead units: flushed
    assert (m[::2] != 0).all()                                 # live units untouched
    np.testing.assert_array_equal(p[1::2], p_text[1::2])       # dead units: exactly the textbook p
    step, step_text = (p - p0)[::2], (p_text - p0)[::2]                          # live units' steps
    np.testing.assert_allclose(step, step_text, rtol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("size", [1000, 1 << 17])
def test_adam_step_of_a_decaying_moment_keeps_full_precision(size):
    """A dead unit's first moment decays through m < tiny / lr_t (about 1e-35 in float32), where
    the product lr_t m is subnormal and keeps only a few digits. The step of such an entry must
    still agree with the float64 formula to float32 precision: the kernel forms lr_t (m / (sqrt(v)
    + eps_t)), whose ratio stays a normal number. (p = 0, so the new p is minus the step.)"""
    dtype, tiny, lr = np.float32, np.finfo(np.float32).tiny, 1e-3
    rng = np.random.default_rng(9)
    m = np.exp(rng.uniform(np.log(tiny / 0.85), np.log(tiny / lr), size)).astype(dtype)
    m *= rng.choice(np.array([-1, 1], dtype), size)
    v = np.exp(rng.uniform(np.log(1e-37), np.log(1e-12), size)).astype(dtype)
    g, p = np.zeros(size, dtype), np.zeros(size, dtype)
    m64, v64 = 0.9 * m.astype(np.float64), 0.999 * v.astype(np.float64)
    want = -lr * m64 / (np.sqrt(v64) + 1e-8)                 # float64 formula from the same inputs
    kernels.adam_update(p, g, m, v, lr, 0.9, 0.999, 1e-8)
    assert (np.abs(lr * m.astype(np.float64)) < tiny).all()  # the regime this test is about
    np.testing.assert_allclose(p, want, rtol=2e-6, atol=0)


def test_no_kernel_is_compiled_with_fastmath():
    dispatchers = [kernels._bias_act_forward_jit, kernels._act_backward_bias_jit,
                   kernels._weighted_residual_jit, kernels._neg_scaled_sq_dists_jit,
                   kernels._neg_scaled_pair_sq_dists_jit,
                   kernels._adam_update_jit]
    for d in dispatchers:
        assert isinstance(d, numba.core.registry.CPUDispatcher)
        assert not d.targetoptions.get("fastmath", False), d


@pytest.mark.skipif(not any(a in __import__("platform").machine().lower() for a in ("x86", "amd64")),
                    reason="checks x86 machine code")
def test_adam_kernel_runs_in_float32_and_vectorised():
    """The float32 Adam loop must stay float32 (no float->double conversion: a Python literal in
    the loop once promoted it) and vectorised (packed sqrt: the "python" error model's zero test
    before each division once prevented it). Each cost the pass 3x to 7x in speed.
    Compiled afresh, with the module's options, because cached code cannot be inspected."""
    kernel = numba.njit(**{**kernels.JIT_OPTIONS, "cache": False})(kernels._adam_update)
    arrays = [np.ones(64, np.float32) for _ in range(4)]
    kernel(*arrays, *[np.float32(s) for s in (1e-3, 0.9, 0.1, 0.999, 1e-3, 1e-8, 1e-38, 3e38)])
    asm = kernel.inspect_asm(kernel.signatures[0]).lower()
    assert "sqrtps" in asm, "the Adam loop is not vectorised (no packed sqrt)"
    assert "cvtss2sd" not in asm, "the float32 Adam loop converts to float64"
