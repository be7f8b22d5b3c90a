"""Iterative-PCA infill of masked pixels (Yip et al. 2004), vectorised over all spectra.

Start with each masked pixel set to its column's mean over unmasked spectra. Then repeat
``n_iter`` times:

1. mean spectrum mu and the top K eigenvectors V (D, K) of the covariance of X;
2. for every spectrum n, the coefficients that fit its UNMASKED pixels only (g = 1 - mask):
       (V^T G_n V) c_n = V^T G_n (x_n - mu),   G_n = diag(g_n)
   built from the sparse mask as I - sum_{masked d} V_d V_d^T (V orthonormal) and
   V^T xc_n - sum_{masked d} xc_nd V_d, and solved for all spectra in one batch;
3. masked pixels <- mu + V c_n.

The eigenvectors come from a warm-started randomized subspace iteration on the covariance,
Q <- orth(Xc^T (Xc Q)), without forming the D x D matrix (Halko et al. 2011): four steps on the
first iteration, then one per iteration, since the previous Q is already close. ``method="eigh"`` uses the
exact eigen-decomposition of the covariance instead (the reference). astroML 1.0.2's
``iterative_pca`` no longer runs with current SciPy; this is our own. Docs: docs/data.md.

:func:`basis_infill` is the per-spectrum version for a trained model: a FIXED basis (the
training set's mean and eigenvectors, :func:`fit_infill_basis`) and, for each spectrum alone,
the weighted least-squares fit of its good pixels, so the result never depends on the batch.
Its fits are stacked (:class:`WeightedFit`: two BLAS products for all the rows' normal equations,
one stacked K x K solve) and its per-pixel passes are two Numba loops, with no (N, D) temporary
beyond two reused float64 work arrays (:func:`work_arrays`), for ``INFILL_ROWS`` rows at a time
(each row's fit is its own, so the blocks change no number; smaller arrays stay in the cache
while two workers run: benchmarks/README.md).
``iterative_pca_infill(..., return_basis=True)`` also returns the basis of its last iteration,
so a basis fitted once (on a sample) can fill every shard of a sharded dataset the same way.
Shapes: N spectra, D pixels, K eigenvectors, Q = K + oversampling.
"""
import threading

import numba
import numpy as np

from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS
from ..utils import NpvaeError, as_generator, progress
from .shards import ShardedArray, column_mean

__all__ = ["iterative_pca_infill", "top_eigenvectors", "fit_infill_basis", "basis_infill", "WeightedFit",
           "work_arrays", "fill_masked", "cholesky_solve", "solve_spd", "BASIS_RIDGE"]

BASIS_RIDGE = 1e-8                 # basis_infill's ridge, relative to the mean diagonal
INFILL_ROWS = 256                  # basis_infill's rows per block: its two float64 work arrays, 4 MB
_WORK = threading.local()          # each thread's reusable work arrays (work_arrays)


def _orthonormalise(Y):
    """Orthonormal basis of the columns of Y (D, Q): CholeskyQR2 in float64, QR if Y is singular."""
    Y = Y.astype(np.float64)
    try:
        for _ in range(2):
            L = np.linalg.cholesky(Y.T @ Y)                                   # (Q, Q)
            Y = np.linalg.solve(L, Y.T).T                                     # Y L^-T
        return Y
    except np.linalg.LinAlgError:
        return np.linalg.qr(Y)[0]


def top_eigenvectors(X, mu, k, *, Q=None, n_power=3, oversample=10, rng=None, method="randomized"):
    """Top ``k`` eigenvectors (D, k) of the covariance of X (N, D) about mu (D,).

    Returns (V, Q) where Q (D, k+oversample) is the subspace to warm-start the next call.
    Each power step is two passes over X: XQ = Xc Q (whose Rayleigh-Ritz gives V on the last
    step) and Y = Xc^T XQ, orthonormalised into the next Q.
    """
    n, d = X.shape
    if method == "eigh" or k + oversample >= d:
        Xc = X - mu
        cov = (Xc.T @ Xc).astype(np.float64) / max(n - 1, 1)                  # (D, D)
        _, vecs = np.linalg.eigh(cov)
        return vecs[:, ::-1][:, :k], None
    if Q is None:
        Q = as_generator(rng).standard_normal((d, k + oversample)).astype(X.dtype)   # (D, Q)
    mu = mu.astype(X.dtype)
    for step in range(max(n_power, 1)):
        XQ = X @ Q - (mu @ Q)[None, :]                                        # (N, Q) = Xc Q
        if step == max(n_power, 1) - 1:                                       # Rayleigh-Ritz on Q
            # (Q, Q) = Q^T C Q (N-1); einsum, not BLAS: a threaded BLAS call this small stalls
            # for ~0.3 s on a busy machine waiting for its second thread
            small = np.einsum("ni,nj->ij", XQ, XQ, dtype=np.float64)
            vecs = np.linalg.eigh(small)[1]
            V = Q.astype(np.float64) @ vecs[:, ::-1][:, :k]                   # (D, k)
        Y = X.T @ XQ - np.outer(mu, XQ.sum(axis=0))                           # (D, Q) = Xc^T Xc Q
        Q = _orthonormalise(Y).astype(X.dtype)                                # next subspace
    return V, Q


def column_pair_products(B):
    """Products of B's columns two by two, upper triangle: (D, P), P = K(K+1)/2, and the index pairs.

    With them every B^T G B (G diagonal, weights g (D,)) is one product g @ pairs: its packed
    upper triangle, unpacked by :func:`symmetric_from_packed`.
    """
    iu, ju = np.triu_indices(B.shape[1])                                      # (P,) each
    return B[:, iu] * B[:, ju], (iu, ju)                                      # (D, P)


def symmetric_from_packed(packed, index, k):
    """(M, P) packed upper triangles (index pairs of :func:`column_pair_products`) -> (M, K, K)."""
    iu, ju = index
    A = np.empty((packed.shape[0], k, k))                                     # (M, K, K)
    A[:, iu, ju] = packed
    A[:, ju, iu] = packed
    return A


class _MaskedFit:
    """The sparse structure of the mask, built once: masked entries (row, col) in CSR order."""

    def __init__(self, mask):
        from scipy import sparse  # on first use: the encode path never imports SciPy

        self.ri, self.ci = np.nonzero(mask)                                  # (S,) each
        self.rows, self.rpos = np.unique(self.ri, return_inverse=True)       # (R,), (S,)
        counts = np.bincount(self.rpos, minlength=len(self.rows))
        self.indptr = np.concatenate([[0], np.cumsum(counts)])               # (R+1,)
        self.shape = (len(self.rows), mask.shape[1])
        self.flat = self.ri * mask.shape[1] + self.ci                         # (S,) into X.ravel()
        self.mask = mask
        self.ones = sparse.csr_matrix((np.ones(len(self.ci)), self.ci, self.indptr), shape=self.shape)

    def coefficients(self, X, mu, V):
        """Masked least-squares coefficients C (R, K) of the rows with masked pixels.

        (V^T G_n V) c_n = V^T G_n (x_n - mu) with V^T G_n V = I - sum_{masked d} V_d V_d^T
        (V has orthonormal columns) and V^T G_n xc_n = V^T xc_n - sum_{masked d} xc_nd V_d.
        """
        from scipy import sparse

        k = V.shape[1]
        XcV = (X @ V.astype(X.dtype))[self.rows] - (mu @ V).astype(X.dtype)  # (R, K)
        vals = X.reshape(-1)[self.flat] - mu[self.ci]                         # (S,) masked xc
        S = sparse.csr_matrix((vals, self.ci, self.indptr), shape=self.shape)
        b = XcV.astype(np.float64) - S @ V                                    # (R, K)
        pairs, index = column_pair_products(V)                               # (D, P)
        A = symmetric_from_packed(-(self.ones @ pairs), index, k)             # (R, K, K) -sum V_dk V_dl
        A += (1.0 + 1e-8) * np.eye(k)[None]                                   # I - ..., tiny ridge
        return np.linalg.solve(A, b[:, :, None])[:, :, 0]                     # (R, K)

    def fill(self, X, mu, V, C, block=16384):
        """X[masked] <- mu + V c_n, in blocks of rows (dense reconstruction, then gathered)."""
        Vt = V.T.astype(X.dtype)                                              # (K, D)
        flat_x = X.reshape(-1)
        d = X.shape[1]
        for s in range(0, len(self.rows), block):
            lo, hi = self.indptr[s], self.indptr[min(s + block, len(self.rows))]
            recon = (C[s:s + block].astype(X.dtype) @ Vt) + mu.astype(X.dtype)   # (B, D)
            local = (self.rpos[lo:hi] - s) * d + self.ci[lo:hi]               # (S_b,)
            flat_x[self.flat[lo:hi]] = recon.reshape(-1)[local]


def iterative_pca_infill(X, mask, *, n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS, method="randomized", rng=None,
                         verbose=False, dtype=np.float32, return_basis=False):
    """Replace masked pixels of X by an iterative PCA reconstruction.

    Parameters
    ----------
    X : ndarray (N, D)
        Spectra; values at masked pixels are ignored.
    mask : ndarray (N, D) bool
        True = bad pixel to infill.
    n_ev, n_iter : int
        Eigenvectors kept (10) and iterations (20), as in the paper.
    method : "randomized" or "eigh"
    rng : Generator, int or None
        Start of the randomized subspace.
    return_basis : bool
        Also return the basis of the last iteration, mu (D,) and V (D, K) float64, the one
        that filled the masked pixels (for :func:`basis_infill`).

    Returns
    -------
    X_filled : ndarray (N, D) of ``dtype``; unmasked pixels are exactly the input.
    (X_filled, mu, V) with ``return_basis``.
    """
    rng = as_generator(rng)
    X = np.array(X, dtype=dtype)                                              # (N, D) copy
    mask = np.asarray(mask, bool)
    good = ~mask
    if not mask.any():
        if not return_basis:
            return X
        mu = X.mean(axis=0, dtype=np.float64)                                 # (D,)
        return X, mu, top_eigenvectors(X, mu, n_ev, rng=rng, method=method, n_power=4)[0]
    counts = good.sum(axis=0)                                                 # (D,)
    col_mean = np.where(counts > 0, np.where(good, X, 0).sum(axis=0) / np.maximum(counts, 1), 0)
    X[mask] = np.broadcast_to(col_mean, X.shape)[mask]
    fit = _MaskedFit(mask)
    Q = None
    for it in progress(range(n_iter), desc="PCA infill", verbose=verbose, unit="iter"):
        mu = X.mean(axis=0, dtype=np.float64)                                 # (D,)
        V, Q = top_eigenvectors(X, mu, n_ev, Q=Q, rng=rng, method=method,
                                n_power=4 if it == 0 else 1)
        C = fit.coefficients(X, mu, V)                                        # (R, K)
        fit.fill(X, mu, V, C)
    return (X, mu, V) if return_basis else X


def fit_infill_basis(X, n_ev=INFILL_EIGENVECTORS, block=8192):
    """Mean (D,) and top eigenvectors (D, K) of the covariance of X (N, D), float64.

    X is a set of (already infilled) training spectra; K = min(n_ev, N - 1). The covariance is
    summed over blocks of rows (bounded memory) and decomposed exactly, so the basis is a
    function of X alone; each eigenvector's sign is fixed (largest entry positive). X may be
    lazy rows (:class:`npvae.data.shards.ShardedArray`): it is then read a block at a time.
    """
    if not isinstance(X, ShardedArray):
        X = np.asarray(X)
    if X.ndim != 2 or len(X) < 2:
        raise NpvaeError(f"an infill basis needs at least 2 spectra (N, D), got shape {X.shape}")
    k = min(int(n_ev), len(X) - 1)
    mu = column_mean(X)                                                       # (D,) = X.mean(axis=0)
    cov = np.zeros((X.shape[1], X.shape[1]))                                  # (D, D)
    for s in range(0, len(X), block):
        xc = X[s:s + block] - mu                                              # (B, D) float64
        cov += xc.T @ xc
    V = np.linalg.eigh(cov)[1][:, ::-1][:, :k]                                # (D, K)
    V = V * np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(k)])
    return mu, V


def work_arrays(n, shape):
    """``n`` float64 work arrays of ``shape`` belonging to this thread, reused from call to call.

    The fits' temporaries are (T, D) float64, about 3 MB each. Freshly allocated every time, each
    costs a page fault per 4 kB when first written (about a fifth of a scan's time in a worker
    thread); these are allocated once per thread and grown when needed. Their contents are
    left over from the last use, and they are valid until this thread asks again.
    """
    slots = _WORK.__dict__.setdefault("slots", [])
    size = int(np.prod(shape))
    while len(slots) < n:
        slots.append(np.empty(0))
    for i in range(n):
        if slots[i].size < size:
            slots[i] = np.empty(size)
    return [slots[i][:size].reshape(shape) for i in range(n)]


def _cholesky_solve(A, b, out):
    """out_i = A_i^{-1} b_i by Cholesky, A_i = L L^T, for SPD (M, K, K); a row whose A_i is not PD gets NaN."""
    M, K = b.shape
    L = np.zeros((K, K))
    y = np.zeros(K)
    for i in range(M):
        ok = True
        for j in range(K):                              # L, column by column
            s = A[i, j, j]
            for p in range(j):
                s -= L[j, p] * L[j, p]
            if not s > 0.0:
                ok = False
                break
            L[j, j] = np.sqrt(s)
            for r in range(j + 1, K):
                t = A[i, r, j]
                for p in range(j):
                    t -= L[r, p] * L[j, p]
                L[r, j] = t / L[j, j]
        if not ok:
            out[i, :] = np.nan
            continue
        for j in range(K):                              # L y = b
            t = b[i, j]
            for p in range(j):
                t -= L[j, p] * y[p]
            y[j] = t / L[j, j]
        for j in range(K - 1, -1, -1):                  # L^T x = y
            t = y[j]
            for p in range(j + 1, K):
                t -= L[p, j] * out[i, p]
            out[i, j] = t / L[j, j]


cholesky_solve = numba.njit(cache=True, nogil=True)(_cholesky_solve)


def solve_spd(A, b):
    """y_i = A_i^{-1} b_i for symmetric (M, K, K) A and (M, K) b: Cholesky (:func:`cholesky_solve`),
    and ``np.linalg.solve`` for the systems that are not positive definite.  -> (M, K) float64."""
    b = np.ascontiguousarray(b, dtype=np.float64)                             # (M, K)
    y = np.empty_like(b)                                                      # (M, K)
    cholesky_solve(A, b, y)
    failed = np.isnan(y).any(axis=1)                                          # (M,) not positive definite
    if failed.any():
        y[failed] = np.linalg.solve(A[failed], b[failed][:, :, None])[:, :, 0]
    return y


class WeightedFit:
    """Weighted linear least squares of many rows by one basis, with stacked K x K solves.

    Row t's coefficients c_t (K,) solve (B^T G_t B + lam_t I) c_t = B^T G_t y_t, G_t = diag(g_t),
    lam_t = ``ridge`` times the mean diagonal of B^T G_t B (a guard for rows the basis fits
    badly). Every B^T G_t B is read off ONE product g (T, D) @ U (D, P), U_d the packed upper
    triangle of B_d B_d^T, made once per basis.
    """

    def __init__(self, basis, ridge):
        self.B = np.asarray(basis, np.float64)                                # (D, K)
        self.Bt = np.ascontiguousarray(self.B.T)                              # (K, D)
        self.ridge = ridge
        self.pairs, self.index = column_pair_products(self.B)                 # (D, P)
        self.pairs_t = np.ascontiguousarray(self.pairs.T)                     # (P, D)

    def coefficients(self, g, gy, cholesky=False):
        """Coefficients (T, K) of rows y (T, D) with weights g (T, D) (0 = pixel not fitted), given g and g y.

        ``cholesky``: the same systems solved by Cholesky in one Numba loop (:func:`cholesky_solve`;
        a row whose matrix is not positive definite by LU), much faster for small K than the
        stacked LAPACK LU solves, with both products in the orientation OpenBLAS runs faster;
        the two differ by rounding only.
        """
        k = self.B.shape[1]
        if cholesky:
            packed, b = (self.pairs_t @ g.T).T, (self.Bt @ gy.T).T           # (T, P) = g @ pairs, (T, K) = gy @ B
        else:
            packed, b = g @ self.pairs, gy @ self.B                           # (T, P), (T, K)
        A = symmetric_from_packed(packed, self.index, k)                      # (T, K, K)
        scale = np.trace(A, axis1=1, axis2=2) / k                             # (T,)
        A += (self.ridge * np.maximum(scale, 1e-30))[:, None, None] * np.eye(k)
        if not cholesky:
            return np.linalg.solve(A, b[:, :, None])[:, :, 0]                 # (T, K)
        return solve_spd(A, b)                                                # (T, K)


def _fill_masked(flux, mask, mean, V, C):
    """In place: flux[t, d] = mean_d + sum_k V_dk C_tk where mask[t, d] (only there: no (T, D) temporary)."""
    for t in range(flux.shape[0]):
        for d in range(flux.shape[1]):
            if mask[t, d]:
                value = mean[d]
                for k in range(V.shape[1]):
                    value += V[d, k] * C[t, k]
                flux[t, d] = value


fill_masked = numba.njit(cache=True, nogil=True)(_fill_masked)


def _weighted_residuals(flux, mask, weight, mean, g, gy):
    """In place, one pass: g[t, d] = weight[t, d] (1 when ``weight`` is (0, 0)) and gy[t, d] =
    g[t, d] (flux[t, d] - mean_d) on good pixels, both 0 where mask[t, d] (whatever flux holds there)."""
    weighted = weight.shape[0] > 0
    for t in range(flux.shape[0]):
        for d in range(flux.shape[1]):
            if mask[t, d]:
                g[t, d] = 0.0
                gy[t, d] = 0.0
            else:
                w = np.float64(weight[t, d]) if weighted else 1.0
                g[t, d] = w
                gy[t, d] = w * (np.float64(flux[t, d]) - mean[d])


_weighted_residuals_jit = numba.njit(cache=True, nogil=True)(_weighted_residuals)


def basis_infill(X, mask, mean, V, weight=None, ridge=BASIS_RIDGE, *, overwrite=False):
    """Fill the masked pixels of each spectrum from a fixed basis, one spectrum at a time.

    For spectrum n with good-pixel weights g_n (``weight`` where not masked, else 1; 0 where
    masked) the coefficients solve the weighted least squares

        (V^T G_n V) c_n = V^T G_n (x_n - mean),   G_n = diag(g_n),

    (:class:`WeightedFit`, each K x K system by Cholesky) and masked pixels become mean + V c_n.
    Row n of the result depends only on row n of the inputs and on (mean, V): the batch plays
    no part.

    Parameters
    ----------
    X : ndarray (N, D)
    mask : ndarray (N, D) bool, True = fill
    mean : ndarray (D,)
    V : ndarray (D, K), or ``WeightedFit(V, ridge)`` made once for many calls (its ridge is used)
    weight : ndarray (N, D) or None (unweighted)
    ridge : float, added to the diagonal (relative to its mean) for spectra the basis fits badly
    overwrite : bool
        Fill X itself when it is already a C-ordered float32 array (no copy).

    Returns
    -------
    X_filled : float32 (N, D) (a copy unless ``overwrite``); unmasked pixels are exactly the input.
    """
    X = np.ascontiguousarray(X, np.float32) if overwrite else np.array(X, dtype=np.float32, order="C")   # (N, D)
    mask = np.ascontiguousarray(mask, bool)
    for name, a in (("mask", mask), ("weight", X if weight is None else weight)):
        if np.shape(a) != X.shape or X.ndim != 2:
            raise NpvaeError(f"basis infill: {name} must have the shape (N, D) of the spectra {X.shape}, "
                             f"got {np.shape(a)}")
    rows = np.flatnonzero(mask.any(axis=1))                                   # (R,)
    if rows.size == 0:
        return X
    every = rows.size == len(X)                                               # the usual case: no gathers
    x = X if every else X[rows]                                               # (R, D)
    m = mask if every else mask[rows]
    w = np.zeros((0, 0), np.float32) if weight is None else np.asarray(weight)
    w = np.ascontiguousarray(w if every or weight is None else w[rows])      # (R, D) or (0, 0)
    mean = np.ascontiguousarray(mean, np.float64)                             # (D,)
    fit = V if isinstance(V, WeightedFit) else WeightedFit(V, ridge)
    for lo in range(0, len(x), INFILL_ROWS):                                  # blocks: the work arrays stay in cache
        xb, mb = x[lo:lo + INFILL_ROWS], m[lo:lo + INFILL_ROWS]               # (T, D) views
        wb = w[lo:lo + INFILL_ROWS] if w.size else w
        g, gy = work_arrays(2, xb.shape)                                      # (T, D) float64 each
        _weighted_residuals_jit(xb, mb, wb, mean, g, gy)
        C = fit.coefficients(g, gy, cholesky=True)                            # (T, K)
        fill_masked(xb, mb, mean, fit.B, C)                                   # xb[mb] <- mean + V c, in place
    if not every:
        X[rows] = x
    return X
