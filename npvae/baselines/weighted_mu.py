"""Weighted NMF by multiplicative updates, fused: two passes over the data per iteration.

The updates of Blanton & Roweis (2007), weighted Lee & Seung, for X ~ C H, C >= 0, H >= 0:

.. math::

    H \\leftarrow H * \\frac{C^T (W * X)}{C^T (W * (C H))}, \\qquad
    C \\leftarrow C * \\frac{(W * X) H^T}{(W * (C H)) H^T},

and the objective chi^2 = sum_nd w_nd (x_nd - (C H)_nd)^2. Written with NumPy each iteration
forms C H three times as an (N, D) array and multiplies it by W (see ``nmf_step``, the slow
reference). Here each spectrum's row of C H lives only in a (D,) buffer:

1. :func:`h_statistics`: one pass over the rows gives the chi^2 of the current (C, H) and the
   numerator and denominator of the H update, summed in a fixed number of row blocks (so the
   result does not depend on the thread count);
2. :func:`update_codes`: one pass updates every row of C in place with the new H.

The arithmetic is that of the NumPy updates, summed in a different order (float64 rounding
differences only). Doc: docs/baselines.md.

Shapes: N spectra, D pixels, K components, G row blocks.
"""
import numba
import numpy as np

__all__ = ["multiplicative_updates", "h_statistics", "update_codes", "N_BLOCKS"]

N_BLOCKS = 32          # row blocks of the H statistics: fixed, so sums do not depend on threads


@numba.njit(cache=True)
def _dot(a, b):
    """sum_d a_d b_d in eight interleaved partial sums: a fixed order (so the same sum whatever
    the arrays' memory alignment, unlike a compiler-reordered reduction) that still runs in
    parallel lanes."""
    D = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    top = D - D % 8
    for d in range(0, top, 8):
        s0 += a[d] * b[d]
        s1 += a[d + 1] * b[d + 1]
        s2 += a[d + 2] * b[d + 2]
        s3 += a[d + 3] * b[d + 3]
        s4 += a[d + 4] * b[d + 4]
        s5 += a[d + 5] * b[d + 5]
        s6 += a[d + 6] * b[d + 6]
        s7 += a[d + 7] * b[d + 7]
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for d in range(top, D):
        s += a[d] * b[d]
    return s


@numba.njit(cache=True)
def _row_products(X, W, C, H, n, r, wx, wr):
    """For row n: r = (C H)_n, wx = w_n x_n, wr = w_n r (the buffers are filled in place)."""
    D = X.shape[1]
    r[:] = 0.0
    for k in range(H.shape[0]):
        c = C[n, k]
        for d in range(D):
            r[d] += c * H[k, d]
    for d in range(D):
        wx[d] = W[n, d] * X[n, d]
        wr[d] = W[n, d] * r[d]


@numba.njit(cache=True)
def _row_chi2(X, W, n, r, e):
    """chi^2_n = sum_d w (x - C H)^2 of row n, from r = (C H)_n; r becomes the residual, e = w r."""
    for d in range(X.shape[1]):
        r[d] = X[n, d] - r[d]
        e[d] = W[n, d] * r[d]
    return _dot(e, r)


def multiplicative_updates(X, W, C, H, tiny):
    """Yield (C, H, chi^2) after each update of H then C, without end (the caller stops).

    X, W (N, D) float64, C (N, K) (updated in place), H (K, D); tiny: the division guard.
    """
    X, W = np.ascontiguousarray(X), np.ascontiguousarray(W)
    _, num, den = h_statistics(X, W, C, H)
    while True:
        H = H * num / (den + tiny)                           # (K, D)
        update_codes(X, W, C, H, tiny)                       # C (N, K) in place
        chi2, num, den = h_statistics(X, W, C, H)           # chi^2 now, and the next H update's sums
        yield C, H, chi2


def h_statistics(X, W, C, H):
    """chi^2 of (C, H) and the H update's numerator C^T (W X) and denominator C^T (W (C H)).

    X, W (N, D), C (N, K), H (K, D) -> (chi2 float, num (K, D), den (K, D)). The blocks' sums
    are added here, outside the parallel kernel, in block order (inside it Numba would turn
    them into thread-count-dependent parallel reductions).
    """
    chi2_g, num_g, den_g = _block_statistics(X, W, C, H)    # (G,), (G, K, D), (G, K, D)
    return float(chi2_g.sum()), num_g.sum(axis=0), den_g.sum(axis=0)


@numba.njit(parallel=True, cache=True)
def _block_statistics(X, W, C, H):
    """chi^2, C^T (W X) and C^T (W (C H)) of each of G row blocks: (G,), (G, K, D), (G, K, D)."""
    N, D = X.shape
    K = H.shape[0]
    G = min(N_BLOCKS, N)
    num_g = np.zeros((G, K, D))                              # (G, K, D)
    den_g = np.zeros((G, K, D))                              # (G, K, D)
    chi2_g = np.zeros(G)                                     # (G,)
    for g in numba.prange(G):
        r, wx, wr, e = np.empty(D), np.empty(D), np.empty(D), np.empty(D)   # (D,) each, see _row_products
        num, den = num_g[g], den_g[g]                        # (K, D) each
        block_chi2 = 0.0
        for n in range(g * N // G, (g + 1) * N // G):
            _row_products(X, W, C, H, n, r, wx, wr)
            block_chi2 += _row_chi2(X, W, n, r, e)
            for k in range(K):
                c = C[n, k]
                for d in range(D):
                    num[k, d] += c * wx[d]
                    den[k, d] += c * wr[d]
        chi2_g[g] = block_chi2
    return chi2_g, num_g, den_g


@numba.njit(parallel=True, cache=True)
def update_codes(X, W, C, H, tiny):
    """C <- C * ((W X) H^T) / ((W (C H)) H^T + tiny), row by row, in place.

    X, W (N, D), C (N, K) (modified), H (K, D), tiny: the division guard.
    """
    N, D = X.shape
    K = H.shape[0]
    G = min(N_BLOCKS, N)
    for g in numba.prange(G):
        r, wx, wr = np.empty(D), np.empty(D), np.empty(D)    # (D,) each, see _row_products
        for n in range(g * N // G, (g + 1) * N // G):
            _row_products(X, W, C, H, n, r, wx, wr)
            for k in range(K):
                top = _dot(wx, H[k])
                bottom = _dot(wr, H[k])
                C[n, k] *= top / (bottom + tiny)
