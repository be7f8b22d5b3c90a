"""Iterative-PCA infill of masked pixels (Yip et al. 2004), vectorised over all spectra.

Start with each masked pixel set to its column's mean over unmasked spectra. Then repeat
``n_iter`` times:

1. mean spectrum mu and the top K eigenvectors V (D, K) of the covariance of X;
2. for every spectrum n, the coefficients that fit its UNMASKED pixels only (g = 1 - mask):
       (V^T G_n V) c_n = V^T G_n (x_n - mu),   G_n = diag(g_n)
   (all N normal equations are built with two matrix products and solved in one batch);
3. masked pixels <- mu + V c_n.

The eigenvectors come from a warm-started randomized subspace iteration on the covariance,
Q <- orth(Xc^T (Xc Q)), without forming the D x D matrix (Halko et al. 2011): a few steps per
outer iteration suffice because the previous Q is already close. ``method="eigh"`` uses the
exact eigen-decomposition of the covariance instead (the reference). astroML 1.0.2's
``iterative_pca`` no longer runs with current SciPy; this is our own. Docs: docs/data.md.
Shapes: N spectra, D pixels, K eigenvectors, Q = K + oversampling.
"""
import numpy as np

from ..utils import as_generator, progress

__all__ = ["iterative_pca_infill", "top_eigenvectors"]


def top_eigenvectors(X, mu, k, *, Q=None, n_power=3, oversample=10, rng=None, method="randomized"):
    """Top ``k`` eigenvectors (D, k) of the covariance of X (N, D) about mu (D,).

    Returns (V, Q) where Q (D, k+oversample) is the subspace to warm-start the next call.
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
    for _ in range(n_power):
        XQ = X @ Q - (mu @ Q)[None, :]                                        # (N, Q) = Xc Q
        Y = X.T @ XQ - np.outer(mu, XQ.sum(axis=0))                           # (D, Q) = Xc^T Xc Q
        Q, _ = np.linalg.qr(Y)
    XQ = (X @ Q - (mu @ Q)[None, :]).astype(np.float64)                       # (N, Q)
    small = XQ.T @ XQ                                                         # (Q, Q) = Q^T C Q (N-1)
    vals, vecs = np.linalg.eigh(small)
    V = (Q.astype(np.float64) @ vecs[:, ::-1][:, :k])                         # (D, k)
    return V, Q


def _fit_coefficients(Xc, good, V):
    """Masked least-squares coefficients C (N, K): (V^T G_n V) c_n = V^T G_n xc_n."""
    n, d = Xc.shape
    k = V.shape[1]
    outer = (V[:, :, None] * V[:, None, :]).reshape(d, k * k)                 # (D, K*K)
    A = (good.astype(Xc.dtype) @ outer.astype(Xc.dtype)).reshape(n, k, k)     # (N, K, K)
    b = (np.where(good, Xc, 0) @ V.astype(Xc.dtype))                          # (N, K)
    A = A.astype(np.float64) + 1e-10 * np.eye(k)[None]                        # ridge for empty rows
    return np.linalg.solve(A, b.astype(np.float64)[:, :, None])[:, :, 0]      # (N, K)


def iterative_pca_infill(X, mask, *, n_ev=10, n_iter=20, method="randomized", rng=None,
                         verbose=False, dtype=np.float32):
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

    Returns
    -------
    X_filled : ndarray (N, D) of ``dtype``; unmasked pixels are exactly the input.
    """
    rng = as_generator(rng)
    X = np.array(X, dtype=dtype)                                              # (N, D) copy
    mask = np.asarray(mask, bool)
    good = ~mask
    if not mask.any():
        return X
    counts = good.sum(axis=0)                                                 # (D,)
    col_mean = np.where(counts > 0, np.where(good, X, 0).sum(axis=0) / np.maximum(counts, 1), 0)
    X[mask] = np.broadcast_to(col_mean, X.shape)[mask]
    rows = np.flatnonzero(mask.any(axis=1))                                   # spectra to refit
    Q = None
    for _ in progress(range(n_iter), desc="PCA infill", verbose=verbose, unit="iter"):
        mu = X.mean(axis=0, dtype=np.float64)                                 # (D,)
        V, Q = top_eigenvectors(X, mu, n_ev, Q=Q, rng=rng, method=method)
        Xc = X[rows] - mu.astype(dtype)                                       # (R, D)
        coeffs = _fit_coefficients(Xc, good[rows], V)                         # (R, K)
        recon = (mu + coeffs @ V.T).astype(dtype)                             # (R, D)
        sub = X[rows]
        sub[mask[rows]] = recon[mask[rows]]
        X[rows] = sub
    return X
