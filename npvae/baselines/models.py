"""Linear baselines for the reconstruction comparison: PCA, weighted PCA, NMF, weighted NMF.

Section 3.1 of Portillo et al. 2020 compares the VAE with PCA and NMF at 2, 4, 6 and 10
parameters. The paper's PCA and NMF ignore the pixel noise and the masked pixels; the weighted
variants use the inverse-variance weights w as the VAE's loss does. Doc: docs/baselines.md.
All four share the estimator interface of docs/design.md ("Estimators").

Shapes: N spectra, D pixels, K components.
"""
import numpy as np

from ..utils import NotFittedError, NpvaeError, as_generator, progress
from .als import codes_step, solve_spd_stacked, weighted_als
from .weighted_mu import multiplicative_updates

__all__ = ["PCA", "WeightedPCA", "NMF", "WeightedNMF"]

_TINY = 1e-12          # guards divisions in the multiplicative updates


# ---------------------------------------------------------------- input checks
def _check_data(X, name="X", n_pixels=None):
    """Return X as a finite float64 (N, D) array or raise NpvaeError."""
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise NpvaeError(f"{name}: Complex data not supported (spectra are real)")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise NpvaeError(f"{name} must be a 2-d array (N spectra, D pixels), got shape {X.shape}")
    if X.shape[0] == 0:
        raise NpvaeError(f"{name} holds no spectra")
    if n_pixels is not None and X.shape[1] != n_pixels:
        raise NpvaeError(f"{name} has {X.shape[1]} pixels, the fitted model has {n_pixels}")
    bad = ~np.isfinite(X)
    if bad.any():
        n, d = np.argwhere(bad)[0]
        raise NpvaeError(f"{name} has {bad.sum()} non-finite values (NaN or inf; first at row {n}, pixel {d})")
    return X


def _check_weights(weights, shape, name="weights"):
    """Return inverse-variance weights (N, D) as float64; None means all ones."""
    if weights is None:
        return np.ones(shape)
    W = _check_data(weights, name)
    if W.shape != shape:
        raise NpvaeError(f"{name} has shape {W.shape}, the data have shape {shape}")
    if (W < 0).any():
        n, d = np.argwhere(W < 0)[0]
        raise NpvaeError(f"{name} has negative values (first at row {n}, pixel {d})")
    return W


def _check_fitted(est):
    if not hasattr(est, "components_"):
        raise NotFittedError(f"{type(est).__name__} is not fitted: call fit(X) before transform")


def _check_codes(C, n_components):
    C = _check_data(C, "C")
    if C.shape[1] != n_components:
        raise NpvaeError(f"C has {C.shape[1]} columns, the model has {n_components} components")
    return C


def _check_k(n_components, X):
    if int(n_components) < 1 or int(n_components) > min(X.shape):
        raise NpvaeError(f"n_components={n_components} must be in 1..min(N, D) = {min(X.shape)}")


def _fix_signs(components, codes=None):
    """Make the largest-|value| entry of each component positive (a deterministic sign)."""
    idx = np.argmax(np.abs(components), axis=1)                      # (K,)
    signs = np.sign(components[np.arange(len(idx)), idx])            # (K,)
    signs[signs == 0] = 1.0
    return components * signs[:, None], (None if codes is None else codes * signs)


# ---------------------------------------------------------------- PCA
class PCA:
    """Principal component analysis of mean-subtracted spectra (the paper's PCA).

    x_n ~ mu + sum_k c_nk p_k with orthonormal p_k, the top-K eigenvectors of the covariance
    S = Xc^T Xc / (N - 1), Xc = X - mu. Weights are accepted and ignored.
    For N > D the D x D covariance is eigen-decomposed, else the centred data's SVD is used.
    """

    def __init__(self, n_components, rng=None):
        self.n_components = int(n_components)
        self.rng = rng                                  # unused: PCA is deterministic

    def fit(self, X, weights=None, X_val=None, weights_val=None, **options):
        """Fit mean_ (D,), components_ (K, D), explained_variance_(ratio_) (K,)."""
        X = _check_data(X)
        _check_weights(weights, X.shape)
        _check_k(self.n_components, X)
        K = self.n_components
        self.mean_ = X.mean(axis=0)                                     # (D,)
        Xc = X - self.mean_                                             # (N, D)
        total = (Xc ** 2).sum() / max(X.shape[0] - 1, 1)
        if X.shape[0] > X.shape[1]:
            cov = Xc.T @ Xc / max(X.shape[0] - 1, 1)                    # (D, D)
            evals, evecs = np.linalg.eigh(cov)                          # ascending
            var = evals[::-1][:K]                                       # (K,)
            comps = evecs[:, ::-1][:, :K].T                             # (K, D)
        else:
            _, s, vt = np.linalg.svd(Xc, full_matrices=False)
            var = s[:K] ** 2 / max(X.shape[0] - 1, 1)                   # (K,)
            comps = vt[:K]                                              # (K, D)
        self.components_, _ = _fix_signs(comps)
        self.explained_variance_ = np.maximum(var, 0.0)
        self.explained_variance_ratio_ = self.explained_variance_ / max(total, _TINY)
        return self

    def transform(self, X, weights=None):
        """Codes c = (x - mu) P^T.  X (N, D) -> (N, K)."""
        _check_fitted(self)
        X = _check_data(X, n_pixels=self.mean_.size)
        return (X - self.mean_) @ self.components_.T                   # (N, K)

    def inverse_transform(self, C):
        """x' = mu + c P.  C (N, K) -> (N, D)."""
        _check_fitted(self)
        return _check_codes(C, self.n_components) @ self.components_ + self.mean_

    def reconstruct(self, X, weights=None):
        """inverse_transform(transform(X)).  X (N, D) -> (N, D)."""
        return self.inverse_transform(self.transform(X, weights))


# ---------------------------------------------------------------- weighted PCA
class WeightedPCA(PCA):
    """PCA with inverse-variance weights: weighted low-rank approximation (alternating LSQ).

    Minimises chi^2 = sum_nd w_nd (x_nd - mu_d - sum_k c_nk p_kd)^2 (Bailey 2012, EM-PCA with
    weights). Start: the weighted mean mu_d = sum_n w_nd x_nd / sum_n w_nd and the plain PCA
    of the centred data with zero-weight pixels set to the mean. Each iteration solves the codes
    spectrum by spectrum, then the components and the mean together pixel by pixel (codes
    augmented with a constant 1); both steps lower chi^2. At the end the codes are centred (the
    mean absorbs their average), the components orthonormalised and rotated so that they are
    ordered by the variance of the codes (with uniform weights this is plain PCA). A pixel
    with zero weight in every spectrum gets mean 0 and component values 0.
    """

    def __init__(self, n_components, max_iter=100, tol=1e-7, rng=None, verbose=False):
        self.n_components = int(n_components)
        self.max_iter, self.tol, self.rng, self.verbose = int(max_iter), float(tol), rng, verbose

    def fit(self, X, weights=None, X_val=None, weights_val=None, **options):
        """Fit mean_, components_ (K, D) orthonormal, objective_history_ (chi^2 per iteration)."""
        X = _check_data(X)
        W = _check_weights(weights, X.shape)
        _check_k(self.n_components, X)
        mean = _weighted_mean(X, W)                                      # (D,)
        P = self._initial_components(X - mean, W)                        # (K, D)
        C, P, mean, history = weighted_als(X, W, mean, P, self.max_iter, self.tol, verbose=self.verbose)
        mean = mean + C.mean(axis=0) @ P                                 # centre the codes
        self.mean_ = mean
        Xc = X - mean                                                    # (N, D)
        self.components_, codes = _orthonormal_rotation(C - C.mean(axis=0), P)
        self.objective_history_ = history
        self.n_iter_ = len(history)
        var = codes.var(axis=0, ddof=1) if len(codes) > 1 else np.zeros(self.n_components)
        total = _weighted_mean(Xc ** 2, W).sum() * len(X) / max(len(X) - 1, 1)   # weighted
        self.explained_variance_ = var
        self.explained_variance_ratio_ = var / max(total, _TINY)
        return self

    def _initial_components(self, Xc, W):
        """Start from plain PCA of the centred data with zero-weight pixels set to 0 (the mean)."""
        init = PCA(self.n_components).fit(np.where(W > 0, Xc, 0.0))
        return init.components_

    def transform(self, X, weights=None):
        """Weighted least-squares codes for new spectra.  X (N, D), weights (N, D) -> (N, K)."""
        _check_fitted(self)
        X = _check_data(X, n_pixels=self.mean_.size)
        W = _check_weights(weights, X.shape)
        return codes_step(W, W * X, self.components_, self.mean_)[0]    # (N, K)


def _weighted_mean(X, W):
    """mu_d = sum_n w_nd x_nd / sum_n w_nd; the plain mean where a pixel has no weight at all."""
    wsum = W.sum(axis=0)                                                # (D,)
    plain = X.mean(axis=0)                                              # (D,)
    return np.where(wsum > 0, (W * X).sum(axis=0) / np.where(wsum > 0, wsum, 1.0), plain)


def _orthonormal_rotation(C, P):
    """Rewrite C P as C' P' with orthonormal rows P' ordered by code variance.

    P^T = Q R (QR), so C P = (C R^T) Q^T; then the SVD of the centred-free codes
    C R^T = U S V^T gives P' = V^T Q^T and C' = U S.  C (N, K), P (K, D).
    """
    Q, R = np.linalg.qr(P.T)                                            # (D, K), (K, K)
    U, s, Vt = np.linalg.svd(C @ R.T, full_matrices=False)              # (N, K), (K,), (K, K)
    comps, codes = _fix_signs(Vt @ Q.T, U * s)
    return comps, codes


# ---------------------------------------------------------------- NMF
class WeightedNMF:
    """Non-negative matrix factorisation with weights: X ~ C H, C >= 0, H >= 0, no mean.

    Minimises chi^2 = sum_nd w_nd (x_nd - (C H)_nd)^2 with the multiplicative updates of
    Blanton & Roweis 2007 (weighted Lee & Seung):

    .. math:: H <- H * (C^T (W*X)) / (C^T (W*(C H))),   C <- C * ((W*X) H^T) / ((W*(C H)) H^T)

    each of which never increases chi^2 when X >= 0. The iterations run in the fused kernels of
    :mod:`npvae.baselines.weighted_mu` (two passes over the data each); :func:`nmf_step` is
    the NumPy form of the same updates, kept as their reference. Negative data (noise in faint spectra)
    are handled by ``negative``: "clip" (default) sets them to 0 and records how many in
    ``n_clipped_``; "raise" raises NpvaeError. At the end each row of H is scaled to unit L2
    norm (C takes the scale), so components_ are comparable across methods.
    """

    weighted = True
    solvers = ("mu",)              # the first is the default

    def __init__(self, n_components, max_iter=500, tol=1e-6, negative="clip",
                 transform_iter=300, rng=None, verbose=False, solver=None):
        if negative not in ("clip", "raise"):
            raise NpvaeError(f"negative must be 'clip' or 'raise', not {negative!r}")
        self.solver = self.solvers[0] if solver is None else solver
        if self.solver not in self.solvers:
            raise NpvaeError(f"{type(self).__name__} solver must be one of {self.solvers}, not {solver!r}")
        self.n_components = int(n_components)
        self.max_iter, self.tol, self.negative = int(max_iter), float(tol), negative
        self.transform_iter, self.rng, self.verbose = int(transform_iter), rng, verbose

    def _weights(self, weights, shape):
        """Checked weights (N, D); None for the unweighted NMF (checked, then dropped)."""
        W = _check_weights(weights, shape)
        return W if self.weighted else None

    def _nonnegative(self, X, name="X"):
        """Apply the negative-data policy; returns (X >= 0, number of clipped values)."""
        n_neg = int((X < 0).sum())
        if n_neg and self.negative == "raise":
            n, d = np.argwhere(X < 0)[0]
            raise NpvaeError(f"NMF needs non-negative data: {name} has {n_neg} negative values "
                             f"(first at row {n}, pixel {d}); use negative='clip'")
        return np.maximum(X, 0.0), n_neg

    def fit(self, X, weights=None, X_val=None, weights_val=None, **options):
        """Fit components_ H (K, D); objective_history_ holds chi^2 after each iteration."""
        X = _check_data(X)
        W = self._weights(weights, X.shape)
        _check_k(self.n_components, X)
        X, self.n_clipped_ = self._nonnegative(X)
        rng = as_generator(self.rng)
        scale = np.sqrt(max(X.mean(), _TINY) / self.n_components)
        C = scale * rng.uniform(0.1, 1.0, (X.shape[0], self.n_components))   # (N, K)
        H = scale * rng.uniform(0.1, 1.0, (self.n_components, X.shape[1]))   # (K, D)
        C, H, history = self._iterate(X, W, C, H)
        norms = np.maximum(np.linalg.norm(H, axis=1), _TINY)             # (K,)
        self.components_ = H / norms[:, None]                            # (K, D)
        self.mean_ = np.zeros(X.shape[1])                                # NMF has no mean
        self.objective_history_ = history
        self.n_iter_ = len(history)
        return self

    def _iterate(self, X, W, C, H):
        """Up to max_iter updates, stopping when chi^2 falls by <= tol (relative); -> C, H, history."""
        steps = self._updates(X, W, C, H)
        history = []
        for _ in progress(range(self.max_iter), desc=type(self).__name__, verbose=self.verbose):
            C, H, chi2 = next(steps)
            history.append(chi2)
            if len(history) > 1 and history[-2] - history[-1] <= self.tol * history[-2]:
                break
        return C, H, history

    def _updates(self, X, W, C, H):
        """Yield (C, H, chi^2) after each update: the fused weighted kernels, or HALS / MU unweighted."""
        if W is not None:
            yield from multiplicative_updates(X, W, C, H, _TINY)
        else:
            xx = float((X ** 2).sum())
            while True:
                C, H = hals_step(X, C, H) if self.solver == "hals" else nmf_step(X, None, C, H)
                yield C, H, nmf_objective(X, None, C, H, xx)

    def transform(self, X, weights=None):
        """Non-negative least-squares codes with the components fixed (see :func:`nnls_codes`).

        X (N, D), weights (N, D) (used only by WeightedNMF; None = ones) -> C (N, K) >= 0.
        """
        _check_fitted(self)
        X = _check_data(X, n_pixels=self.components_.shape[1])
        W = self._weights(weights, X.shape)
        X, _ = self._nonnegative(X)
        return nnls_codes(X, W, self.components_, max_sweeps=self.transform_iter)

    def inverse_transform(self, C):
        """x' = C H.  C (N, K) -> (N, D)."""
        _check_fitted(self)
        return _check_codes(C, self.n_components) @ self.components_

    def reconstruct(self, X, weights=None):
        """inverse_transform(transform(X, weights)).  X (N, D) -> (N, D)."""
        return self.inverse_transform(self.transform(X, weights))


class NMF(WeightedNMF):
    """The paper's NMF: min ||X - C H||^2 over C, H >= 0, unweighted.

    Same as WeightedNMF with all weights 1 (weights passed to fit/transform are ignored).
    ``solver="hals"`` (default) sweeps hierarchical alternating least squares (:func:`hals_step`),
    which gets much closer to the optimum in a few hundred sweeps than ``solver="mu"``, the
    multiplicative updates of Lee & Seung. Both use the Gram matrices C^T C and H H^T, so no
    (N, D) temporaries per step.
    """

    weighted = False
    solvers = ("hals", "mu")


def nnls_codes(X, W, H, max_sweeps=300, tol=1e-9):
    """Exact non-negative weighted least squares for every spectrum, vectorised over N.

    c_n = argmin_{c >= 0} sum_d w_nd (x_nd - c . h_d)^2. With G_n = H W_n H^T and
    b_n = H W_n x_n, coordinate descent updates
    c_nk <- max(0, c_nk + (b_nk - G_n[k] . c_n) / G_nkk),
    each an exact minimisation along one coordinate; it starts from the unconstrained solution
    clipped at 0 and stops when no code moves by more than tol (relative).
    X (N, D), W (N, D) or None, H (K, D) -> C (N, K).
    """
    K = H.shape[0]
    if W is None:
        G = np.broadcast_to(H @ H.T, (X.shape[0], K, K))                 # (N, K, K)
        b = X @ H.T                                                     # (N, K)
    else:
        HH = (H[:, None, :] * H[None, :, :]).reshape(K * K, -1)         # (K*K, D)
        G = (W @ HH.T).reshape(-1, K, K)                                # (N, K, K)
        b = (W * X) @ H.T                                               # (N, K)
    C = np.maximum(solve_spd_stacked(G, b), 0.0)                        # (N, K)
    diag = np.maximum(np.einsum("nkk->nk", G), _TINY)                   # (N, K)
    for _ in range(max_sweeps):
        moved = 0.0
        for k in range(K):
            step = (b[:, k] - np.einsum("nj,nj->n", G[:, k, :], C)) / diag[:, k]
            new = np.maximum(C[:, k] + step, 0.0)                        # (N,)
            moved = max(moved, float(np.max(np.abs(new - C[:, k]))))
            C[:, k] = new
        if moved <= tol * max(float(np.abs(C).max()), _TINY):
            break
    return C


def nmf_step(X, W, C, H, WX=None):
    """One multiplicative update of H, then of C (Lee & Seung; weighted: Blanton & Roweis).

    C^T X is computed as (X^T C)^T: OpenBLAS is ten times faster that way for skinny C.

    X (N, D) >= 0, W (N, D) or None, C (N, K), H (K, D); WX = W * X may be passed precomputed.
    """
    if W is None:
        H = H * (X.T @ C).T / ((C.T @ C) @ H + _TINY)                   # (K, D)
        C = C * (X @ H.T) / (C @ (H @ H.T) + _TINY)                     # (N, K)
        return C, H
    WX = W * X if WX is None else WX                                    # (N, D)
    H = H * (WX.T @ C).T / (((W * (C @ H)).T @ C).T + _TINY)           # (K, D)
    C = C * (WX @ H.T) / ((W * (C @ H)) @ H.T + _TINY)                  # (N, K)
    return C, H


def hals_step(X, C, H):
    """One sweep of hierarchical alternating least squares (Cichocki & Phan 2009), unweighted.

    Each row h_k of H, then each column c_k of C, is set to its exact non-negative least-squares
    value with the others fixed, so ||X - C H||^2 never increases:

    .. math:: h_k <- max(0, h_k + ((X^T C)_k - H^T (C^T C)_k) / (C^T C)_kk)

    and likewise c_k <- max(0, c_k + ((X H^T)_k - C (H H^T)_k) / (H H^T)_kk).
    X (N, D) >= 0, C (N, K), H (K, D) -> new (C, H).
    """
    C, H = C.copy(), H.copy()
    XtC = X.T @ C                                                       # (D, K)
    CtC = C.T @ C                                                       # (K, K)
    for k in range(H.shape[0]):
        H[k] = np.maximum(H[k] + (XtC[:, k] - CtC[k] @ H) / max(CtC[k, k], _TINY), 0.0)   # (D,)
    XHt = X @ H.T                                                       # (N, K)
    HHt = H @ H.T                                                       # (K, K)
    for k in range(H.shape[0]):
        C[:, k] = np.maximum(C[:, k] + (XHt[:, k] - C @ HHt[:, k]) / max(HHt[k, k], _TINY), 0.0)  # (N,)
    return C, H


def nmf_objective(X, W, C, H, xx=None):
    """chi^2 = sum w (x - C H)^2 (W None: sum (x - C H)^2 via traces; xx = sum x^2 if known)."""
    if W is None:
        CtX = (X.T @ C).T                                               # (K, D)
        xx = float((X ** 2).sum()) if xx is None else xx
        return float(xx - 2 * (CtX * H).sum()
                     + ((C.T @ C) * (H @ H.T)).sum())
    return float((W * (X - C @ H) ** 2).sum())
