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
``iterative_pca`` no longer runs with current SciPy; this is our own.

``infill_with_basis`` fills the masked pixels of other spectra with a basis (mu, V) fitted once
(``iterative_pca_infill(..., return_basis=True)``): step 2 and 3 with V fixed. The masked
least-squares coefficients do not depend on the values at the masked pixels, so one step is the
exact answer. The sharded datasets use it: one basis for every shard. Docs: docs/data.md.
Shapes: N spectra, D pixels, K eigenvectors, Q = K + oversampling.
"""
import numpy as np
from scipy import sparse

from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS
from ..utils import as_generator, progress

__all__ = ["iterative_pca_infill", "infill_with_basis", "top_eigenvectors"]


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


class _MaskedFit:
    """The sparse structure of the mask, built once: masked entries (row, col) in CSR order."""

    def __init__(self, mask):
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
        k = V.shape[1]
        XcV = (X @ V.astype(X.dtype))[self.rows] - (mu @ V).astype(X.dtype)  # (R, K)
        vals = X.reshape(-1)[self.flat] - mu[self.ci]                         # (S,) masked xc
        S = sparse.csr_matrix((vals, self.ci, self.indptr), shape=self.shape)
        b = XcV.astype(np.float64) - S @ V                                    # (R, K)
        iu, ju = np.triu_indices(k)                                           # K(K+1)/2 pairs
        packed = self.ones @ (V[:, iu] * V[:, ju])                            # (R, P) sum V_dk V_dl
        A = np.empty((len(packed), k, k))
        A[:, iu, ju] = -packed
        A[:, ju, iu] = -packed
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
        that filled the masked pixels (for :func:`infill_with_basis`).

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


def infill_with_basis(X, mask, mu, V, dtype=np.float32):
    """Masked pixels of X (N, D) replaced by mu + V c_n, c_n fitted to the unmasked pixels.

    mu (D,) and V (D, K) with orthonormal columns, e.g. from
    ``iterative_pca_infill(..., return_basis=True)``. Unmasked pixels are exactly the input.
    """
    X = np.array(X, dtype=dtype)                                              # (N, D) copy
    mask = np.asarray(mask, bool)
    if mask.any():
        X[mask] = np.broadcast_to(mu.astype(dtype), X.shape)[mask]            # ignored; finite
        fit = _MaskedFit(mask)
        fit.fill(X, mu, V, fit.coefficients(X, mu, V))
    return X
