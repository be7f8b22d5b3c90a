"""Numba kernels for the hot loops, each beside its plain NumPy reference twin.

Matrix products stay in BLAS; what is left of a training step is a handful of passes over
arrays that NumPy would do with several temporaries each. Every kernel below is a plain
Python function (readable, and importable with ``NUMBA_DISABLE_JIT=1``), jitted explicitly,
and has a ``*_reference`` twin in NumPy that tests/nn/test_kernels.py compares it with in
float32 and float64. No ``fastmath``: everything here is gradient-checked. The two MMD
functions are NumPy drivers around two Numba distance kernels: the exponentials go to NumPy's
vectorised ``np.exp``, many times faster than a scalar exp per pair in a loop.

Shapes: B batch, O units of a layer, D pixels, Z latent, M prior samples, P parameters.

Derivations: docs/derivations/relu.md (activation, paper eqs. 1-2), gaussian_nll.md (weighted
residual, the L of paper eq. 10), mmd.md (kernel sums, paper eq. 13), adam.md (fused update).
"""
import numba
import numpy as np

__all__ = [
    "bias_act_forward", "bias_act_forward_reference", "act_backward_bias",
    "act_backward_bias_reference", "weighted_residual", "weighted_residual_reference",
    "mmd_rbf_terms", "mmd_rbf_terms_reference", "prior_kernel_mean", "prior_kernel_mean_reference",
    "adam_update", "adam_update_reference",
]

# error_model="numpy": a division by zero gives inf/nan as in the NumPy twins instead of raising.
# The Python error model puts a zero test before every division, which stops LLVM from
# vectorising a loop; the Adam pass ran several times slower with it (benchmarks/README.md).
JIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}
_jit = numba.njit(**JIT_OPTIONS)


# --- bias + activation -------------------------------------------------------------------
def _bias_act_forward(y, b, slope):
    """In place: y = act(y + b), act(u) = u if u > 0 else slope * u.  y (B, O), b (O,).

    Bias and ReLU of paper eqs. 1, 2, 4; docs/derivations/relu.md.
    """
    n_rows, n_cols = y.shape
    for i in range(n_rows):
        for j in range(n_cols):
            u = y[i, j] + b[j]
            y[i, j] = u if u > 0 else slope * u


def bias_act_forward_reference(y, b, slope):
    """NumPy twin of :func:`bias_act_forward` (in place)."""
    u = y + b                                   # (B, O)
    y[...] = np.where(u > 0, u, slope * u)


def _act_backward_bias(dy, y, slope, one, db):
    """In place: dy *= act'(y) (1 where y > 0, else slope); db = sum over the batch of dy.

    Backward of the bias and ReLU of paper eqs. 1, 2, 4; docs/derivations/relu.md.

    Written as a product with the chosen factor (``one`` is 1 in dy's dtype): the form
    ``dy if y > 0 else slope * dy`` compiled to a branch per element, 3x slower on mixed signs.
    """
    n_rows, n_cols = dy.shape
    for j in range(n_cols):
        db[j] = 0
    for i in range(n_rows):
        for j in range(n_cols):
            g = dy[i, j] * (one if y[i, j] > 0 else slope)
            dy[i, j] = g
            db[j] += g


def act_backward_bias_reference(dy, y, slope, db):
    """NumPy twin of :func:`act_backward_bias` (in place)."""
    dy[...] = np.where(y > 0, dy, slope * dy)   # (B, O)
    db[...] = dy.sum(axis=0)                    # (O,)


# --- weighted residual: the Gaussian NLL and its gradient -----------------------------------
def _weighted_residual(x, xhat, w, grad_scale, dxhat):
    """Return sum 0.5 w (xhat - x)^2 (float64) and write dxhat = grad_scale * w (xhat - x).

    The L(x, x') of paper eq. 10; docs/derivations/gaussian_nll.md.

    x, xhat, w, dxhat (B, D). The caller divides the sum by B and passes grad_scale = s / B.

    The float64 sum is kept per column (``col``, D partial sums) and added up at the end: one
    running total would make every addition wait for the previous one (no vectorising without
    reordering the sum, i.e. fastmath), which made this kernel 3x slower.
    """
    n_rows, n_cols = x.shape
    col = np.zeros(n_cols)                          # (D,) float64 partial sums
    for i in range(n_rows):
        for j in range(n_cols):
            r = xhat[i, j] - x[i, j]
            wr = w[i, j] * r
            col[j] += 0.5 * float(wr) * float(r)
            dxhat[i, j] = grad_scale * wr
    total = 0.0
    for j in range(n_cols):
        total += col[j]
    return total


def weighted_residual_reference(x, xhat, w, grad_scale, dxhat):
    """NumPy twin of :func:`weighted_residual`."""
    r = xhat - x                                # (B, D)
    dxhat[...] = grad_scale * (w * r)
    return 0.5 * float(np.sum((w * r).astype(np.float64) * r))


# --- MMD kernel sums and gradient ------------------------------------------------------------
# The kernel values exp(-|a - b|^2 / Z) are many (B M + M^2 / 2 per step, about 33,000 at
# B = 64, M = 200): a scalar exp per pair in a Numba loop cost most of the MMD's time. So the
# Numba kernels below only form the scaled squared distances, in float64, and NumPy's
# vectorised ``np.exp`` turns them into kernel values in place, a block of rows at a time.
KERNEL_BLOCK = 1 << 20     # kernel values held at once (8 MB of float64), whatever B and M


def _neg_scaled_sq_dists(a, bt, out):
    """In place: out[i, j] = -|a_i - b_j|^2 / Z in float64.  a (N, Z), bt (Z, K) = b transposed,
    out (N, K) float64 (paper eq. 13's kernel argument; docs/derivations/mmd.md).

    b comes transposed so that the innermost loop runs along contiguous memory (vectorised).
    """
    n_a, dim = a.shape
    n_b = bt.shape[1]
    neg_inv_dim = -1.0 / dim
    for i in range(n_a):
        row = out[i]                                # (K,)
        row[:] = 0.0
        for k in range(dim):
            aik = float(a[i, k])
            for j in range(n_b):
                d = aik - bt[k, j]
                row[j] += d * d
        row *= neg_inv_dim


def _neg_scaled_pair_sq_dists(pt, i_start, i_stop, out):
    """In place: -|p_i - p_j|^2 / Z for the pairs i < j with i_start <= i < i_stop, row after row,
    into out (float64, one entry per pair).  pt (Z, M) = p transposed, float64 (docs/derivations/mmd.md).

    Each row works on 1-D slices (``rest``, ``row``): indexing pt[k, i + 1 + j] in the inner
    loop instead kept it from being vectorised (3x slower).
    """
    dim, n_p = pt.shape
    neg_inv_dim = -1.0 / dim
    start = 0
    for i in range(i_start, i_stop):
        n_row = n_p - 1 - i                         # the pairs (i, i+1), ..., (i, M-1)
        row = out[start:start + n_row]
        row[:] = 0.0
        for k in range(dim):
            pik = pt[k, i]
            rest = pt[k, i + 1:]                    # p_{i+1..M-1}, coordinate k
            for j in range(n_row):
                d = pik - rest[j]
                row[j] += d * d
        row *= neg_inv_dim
        start += n_row


def _mmd_rbf_terms(z, p, grad_scale, dz):
    """The z-dependent parts of the biased MMD^2 between samples z (B, Z) and p (M, Z), with
    k(a,b) = exp(-|a-b|^2 / Z) (paper eq. 13; docs/derivations/mmd.md): returns
    (mean k(z,z'), mean k(z,p)) as float64 and ADDS grad_scale * d(MMD^2)/dz to dz (B, Z):
    d/dz_a = -4/(Z B^2) sum_j k(z_a,z_j)(z_a - z_j) + 4/(Z B M) sum_j k(z_a,p_j)(z_a - p_j),
    written with the kernel matrices G = K_zz (B, B) and K_zp (B, M) as
    sum_j k_aj (z_a - y_j) = (K 1)_a z_a - (K y)_a, for a block of rows a at a time.
    With grad_scale == 0 the gradient is skipped (a value-only call). The third part,
    mean k(p,p'), does not depend on z: :func:`prior_kernel_mean`.
    """
    n_z, dim = z.shape
    n_p = p.shape[0]
    zz = z.astype(np.float64)                                   # (B, Z)
    pp = p.astype(np.float64)                                   # (M, Z)
    zt, pt = np.ascontiguousarray(zz.T), np.ascontiguousarray(pp.T)   # (Z, B), (Z, M)
    c_zz = -4.0 / (dim * n_z * n_z) * grad_scale
    c_zp = 4.0 / (dim * n_z * n_p) * grad_scale
    s_zz = s_zp = 0.0
    rows = max(1, KERNEL_BLOCK // (n_z + n_p))
    for a0 in range(0, n_z, rows):
        za = zz[a0:a0 + rows]                                   # (R, Z) a block of rows
        k_zz = np.empty((len(za), n_z))                         # (R, B)
        k_zp = np.empty((len(za), n_p))                         # (R, M)
        _neg_scaled_sq_dists_jit(za, zt, k_zz)
        _neg_scaled_sq_dists_jit(za, pt, k_zp)
        np.exp(k_zz, out=k_zz)                                  # kernel values, in place
        np.exp(k_zp, out=k_zp)
        s_zz += float(k_zz.sum())
        s_zp += float(k_zp.sum())
        if grad_scale != 0:
            g_zz = k_zz.sum(axis=1)[:, None] * za - k_zz @ zz  # (R, Z) sum_j k_aj (z_a - z_j)
            g_zp = k_zp.sum(axis=1)[:, None] * za - k_zp @ pp  # (R, Z) sum_j k_aj (z_a - p_j)
            dz[a0:a0 + rows] += (c_zz * g_zz + c_zp * g_zp).astype(dz.dtype)
    return s_zz / (n_z * n_z), s_zp / (n_z * n_p)


def _prior_kernel_mean(p):
    """mean_{i,j} k(p_i, p_j) (float64) of the prior samples p (M, Z); pairs i < j counted twice,
    plus the diagonal k(p_i, p_i) = 1.  The last term of paper eq. 13; docs/derivations/mmd.md.
    """
    n_p = p.shape[0]
    pt = np.ascontiguousarray(p.T, dtype=np.float64)            # (Z, M)
    total = float(n_p)                                          # the diagonal
    rows = max(1, KERNEL_BLOCK // n_p)                          # row i has M - 1 - i < M pairs
    for i0 in range(0, n_p - 1, rows):
        i1 = min(i0 + rows, n_p - 1)
        pairs = np.empty((i1 - i0) * (2 * n_p - i0 - i1 - 1) // 2)   # sum of M - 1 - i over the rows
        _neg_scaled_pair_sq_dists_jit(pt, i0, i1, pairs)
        np.exp(pairs, out=pairs)
        total += 2.0 * float(pairs.sum())
    return total / (n_p * n_p)


def _rbf_kernel(a, b):
    """k(a_i, b_j) = exp(-|a_i - b_j|^2 / Z) for a (N, Z), b (K, Z) -> (N, K), in float64."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)   # (N, K)
    return np.exp(-d2 / a.shape[1])


def mmd_rbf_terms_reference(z, p, grad_scale, dz):
    """NumPy twin of :func:`mmd_rbf_terms` (adds to dz)."""
    n_z, dim = z.shape
    n_p = p.shape[0]
    k_zz = _rbf_kernel(z, z)                    # (B, B)
    k_zp = _rbf_kernel(z, p)                    # (B, M)
    z64, p64 = z.astype(np.float64), p.astype(np.float64)
    g_zz = k_zz.sum(1)[:, None] * z64 - k_zz @ z64          # (B, Z) = sum_j k_aj (z_a - z_j)
    g_zp = k_zp.sum(1)[:, None] * z64 - k_zp @ p64          # (B, Z)
    grad = -4.0 / (dim * n_z * n_z) * g_zz + 4.0 / (dim * n_z * n_p) * g_zp
    dz += (grad_scale * grad).astype(dz.dtype)
    return k_zz.mean(), k_zp.mean()


def prior_kernel_mean_reference(p):
    """NumPy twin of :func:`prior_kernel_mean`."""
    return _rbf_kernel(p, p).mean()


# --- Adam --------------------------------------------------------------------------------------
def _adam_update(p, g, m, v, lr_t, beta1, c1, beta2, c2, eps_t, tiny, huge):
    """Fused Adam step over flat arrays p, g, m, v (P,), in place (paper Secs. 2-3, no eq. number).

    m = b1 m + c1 g;  v = b2 v + c2 g^2;  p -= lr_t m / (sqrt(v) + eps_t), with c1 = 1 - b1,
    c2 = 1 - b2, lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) and eps_t = eps sqrt(1 - b2^t) (the bias
    correction folded into two scalars; docs/derivations/adam.md). Moments below ``tiny`` (the
    dtype's smallest normal number) are set to 0: a dead ReLU unit's gradient is exactly 0, its
    first moment decays by b1 every step into subnormal numbers, which are many times slower to
    compute with, and such a moment moves p by less than lr tiny / eps, far below p's resolution.

    Every scalar comes in with the arrays' dtype and no literal appears in the loop: in Numba,
    float32 combined with a Python ``1`` is float64, which once ran this whole loop in float64,
    several times slower than in float32 (benchmarks/README.md).

    The step is formed as lr_t (m / (sqrt(v) + eps_t)), the ratio first: a decaying moment
    m < tiny / lr_t (about 1e-35 in float32) made the product lr_t m subnormal, which is both
    imprecise and slow to compute with, while the ratio stays a normal number.

    Returns the number of entries whose new second moment is not finite (not <= ``huge``, the
    dtype's largest number): g was NaN or infinite there, or so large that g^2 overflowed. The
    training loop's divergence test; counting here costs far less than a separate pass over g.
    """
    zero = tiny - tiny
    n_bad = 0
    for i in range(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + c1 * gi
        vi = beta2 * v[i] + c2 * gi * gi
        n_bad += not vi <= huge                     # NaN or inf
        mi = mi if abs(mi) >= tiny else zero
        vi = vi if vi >= tiny else zero
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * (mi / (np.sqrt(vi) + eps_t))
    return n_bad


def adam_update_reference(p, g, m, v, lr_t, beta1, beta2, eps_t, tiny):
    """NumPy twin of :func:`adam_update` (in place); returns the count of non-finite second moments."""
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    n_bad = int(np.count_nonzero(~np.isfinite(v)))
    m[np.abs(m) < tiny] = 0
    v[v < tiny] = 0
    p -= lr_t * (m / (np.sqrt(v) + eps_t))
    return n_bad


def _cast_scalars(arr, *values):
    """The scalars as the array's dtype, so float32 kernels stay in float32."""
    return tuple(arr.dtype.type(x) for x in values)


_bias_act_forward_jit = _jit(_bias_act_forward)
_act_backward_bias_jit = _jit(_act_backward_bias)
_weighted_residual_jit = _jit(_weighted_residual)
_neg_scaled_sq_dists_jit = _jit(_neg_scaled_sq_dists)
_neg_scaled_pair_sq_dists_jit = _jit(_neg_scaled_pair_sq_dists)
_adam_update_jit = _jit(_adam_update)


def bias_act_forward(y, b, slope):
    """In place ``y = act(y + b)`` (Numba). See :func:`_bias_act_forward`."""
    _bias_act_forward_jit(y, b, *_cast_scalars(y, slope))


def act_backward_bias(dy, y, slope, db):
    """In place ``dy *= act'(y)``, ``db = dy.sum(0)`` (Numba). See :func:`_act_backward_bias`."""
    _act_backward_bias_jit(dy, y, *_cast_scalars(dy, slope, 1), db)


def weighted_residual(x, xhat, w, grad_scale, dxhat):
    """``sum 0.5 w (xhat-x)^2`` and ``dxhat = grad_scale w (xhat-x)`` (Numba)."""
    return _weighted_residual_jit(x, xhat, w, *_cast_scalars(dxhat, grad_scale), dxhat)


def mmd_rbf_terms(z, p, grad_scale, dz):
    """MMD kernel means of z and gradient added to dz (Numba distances). See :func:`_mmd_rbf_terms`."""
    return _mmd_rbf_terms(z, p, float(grad_scale), dz)


def prior_kernel_mean(p):
    """Mean kernel value between prior samples p (M, Z) (Numba distances). See :func:`_prior_kernel_mean`."""
    return _prior_kernel_mean(p)


def adam_update(p, g, m, v, lr_t, beta1, beta2, eps_t):
    """Fused Adam step in place (Numba, one thread); returns the count of non-finite second
    moments (0 for a good step). See :func:`_adam_update`."""
    info = np.finfo(p.dtype)
    lr_t, b1, b2, eps_t, tiny, huge = _cast_scalars(p, lr_t, beta1, beta2, eps_t, info.tiny, info.max)
    return int(_adam_update_jit(p, g, m, v, lr_t, b1, 1 - b1, b2, 1 - b2, eps_t, tiny, huge))   # 1 - b1 in p's dtype
