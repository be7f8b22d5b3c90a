"""Weighted low-rank approximation by alternating least squares with extrapolation (weighted PCA).

Minimises, over the codes C (N, K), the components P (K, D) and the mean m (D,),

.. math::

    \\chi^2 = \\sum_{nd} w_{nd} (x_{nd} - m_d - \\sum_k c_{nk} p_{kd})^2
            = \\sum_{nd} w_{nd} (x_{nd} - \\tilde c_n \\cdot \\tilde p_d)^2,

with the augmented codes c~_n = [c_n, 1] and components p~_d = [p_d, m_d] (P~ = [P; m], (K+1, D)).
Each block has a closed-form minimiser (Bailey 2012):

1. codes, spectrum by spectrum: (P W_n P^T) c_n = P W_n (x_n - m);
2. components and mean, pixel by pixel: (C~^T W_d C~) p~_d = C~^T W_d x_d.

Plain alternation (``extrapolate=False``) converges linearly and slowly
when the last components carry little variance. :func:`weighted_als` adds the extrapolation of
Ang & Gillis (2019, Neural Computation 31, 417): the components found by step 2 are moved on
along their change in this iteration, P~ + beta (P~_new - P~), the codes step is made there, and
the move is kept only if its chi^2 is below that of steps 1-2 (else the codes step is redone
at P~_new); beta grows after a kept move and halves after a rejected one. chi^2 never
increases, and a fixed point of the iteration is one of plain alternation (a stationary point
of chi^2), so it converges to the same minimum, in fewer iterations.

Cost per step: the N (K, K) and D (K+1, K+1) symmetric normal matrices come from ONE matrix
product each over the packed upper triangle (K (K+1) / 2 columns, not K^2); the chi^2 of the
components step comes from its normal equations,
chi^2 = sum_d (s_d - 2 p~_d . b_d + p~_d^T A_d p~_d), s_d = sum_n w_nd x_nd^2, with no (N, D)
temporary. The stacked small systems are solved by Cholesky (:func:`solve_spd_stacked`, with
:func:`npvae.data.infill.solve_spd`).

Shapes: N spectra, D pixels, K components, M stacked systems, T = K (K+1) / 2 packed entries.
"""
import numpy as np

from ..data.infill import column_pair_products, solve_spd, symmetric_from_packed
from ..utils import progress

__all__ = ["weighted_als", "codes_step", "components_step", "chi2", "solve_spd_stacked", "RIDGE"]

RIDGE = 1e-10          # relative ridge on the stacked normal equations (keeps them solvable)
BETA_START, BETA_GROW, BETA_SHRINK = 0.5, 1.5, 0.5     # extrapolation weight: start, after a kept / rejected move
BETA_MAX = 4.0


# ---------------------------------------------------------------- stacked symmetric systems
def solve_spd_stacked(A, b, ridge=RIDGE):
    """Solve (A_i + r_i I) y_i = b_i, r_i = ridge trace(A_i) / K (or ridge if the trace is 0).

    A (M, K, K) symmetric positive semi-definite, b (M, K) -> y (M, K). Cholesky in a Numba
    kernel; a system that is not positive definite after the ridge goes to ``np.linalg.solve``.
    """
    K = A.shape[-1]
    scale = np.trace(A, axis1=1, axis2=2) / K                           # (M,)
    r = ridge * np.where(scale > 0, scale, 1.0)                         # (M,)
    return solve_spd(A + r[:, None, None] * np.eye(K), b)               # (M, K)


# ---------------------------------------------------------------- the two block steps
def codes_step(W, WX, P, mean, s_rows=None):
    """Best codes for fixed components, c_n = (P W_n P^T)^{-1} P W_n (x_n - m), and chi^2 at them.

    chi^2 = sum_n (sum_d w_nd (x_nd - m_d)^2 - 2 c_n . b_n + c_n^T A_n c_n) from the normal
    equations A_n c_n = b_n. W, WX = W * X (N, D); P (K, D); mean (D,); s_rows (N,) =
    sum_d w_nd x_nd^2 (None: chi^2 not computed, NaN) -> C (N, K), chi^2.
    """
    K = P.shape[0]
    PPt, index = column_pair_products(P.T)                              # (D, T)
    PP = PPt.T                                                          # (T, D)
    G = W @ np.vstack([PP, P * mean, mean * mean]).T                    # (N, T + K + 1)
    T = PP.shape[0]
    A = symmetric_from_packed(G[:, :T], index, K)                       # (N, K, K)
    b = WX @ P.T - G[:, T:T + K]                                        # (N, K) = P W_n (x_n - m)
    C = solve_spd_stacked(A, b)                                         # (N, K)
    if s_rows is None:
        return C, float("nan")
    ss = s_rows - 2 * (WX @ mean) + G[:, -1]                            # (N,) sum_d w (x - m)^2
    total = ss.sum() - 2 * np.vdot(C, b) + np.einsum("nk,nkl,nl->", C, A, C)
    return C, float(total)


def components_step(W, WX, s_cols, C):
    """Best components and mean for fixed codes, and chi^2 at them.

    p~_d = (C~^T W_d C~)^{-1} C~^T W_d x_d with C~ = [C, 1]. W, WX (N, D); s_cols (D,) =
    sum_n w_nd x_nd^2; C (N, K) -> P (K, D), mean (D,), chi^2.
    """
    Ct = np.hstack([C, np.ones((C.shape[0], 1))]).T                     # (K+1, N)
    CCt, index = column_pair_products(Ct.T)                             # (N, T')
    A = symmetric_from_packed(W.T @ CCt, index, Ct.shape[0])            # (D, K+1, K+1)
    b = WX.T @ Ct.T                                                     # (D, K+1)
    Pt = solve_spd_stacked(A, b)                                        # (D, K+1)
    total = s_cols - 2 * np.einsum("dk,dk->d", Pt, b) + np.einsum("dk,dkl,dl->d", Pt, A, Pt)   # (D,)
    return Pt[:, :-1].T, Pt[:, -1], float(total.sum())


def chi2(X, W, C, P, mean, rows=4096):
    """sum_nd w_nd (x_nd - m_d - (C P)_nd)^2, directly, by blocks of rows.  X, W (N, D), C (N, K), P (K, D)."""
    total = 0.0
    for i in range(0, len(X), rows):
        r = X[i:i + rows] - mean - C[i:i + rows] @ P                    # (rows, D)
        r *= r
        total += float(np.vdot(W[i:i + rows], r))
    return total


# ---------------------------------------------------------------- the loop
def weighted_als(X, W, mean, P, max_iter=100, tol=1e-7, extrapolate=True, verbose=False):
    """Minimise chi^2 from the start (mean, P); returns codes C (N, K), P (K, D), mean (D,), history.

    ``history`` holds chi^2 after each iteration, at the best codes for that iteration's
    components (never increasing). Stop when it falls by less than ``tol`` times its value in one
    iteration, or after ``max_iter``. ``extrapolate=False`` is plain alternation.
    """
    WX = W * X                                                          # (N, D)
    s_rows, s_cols = np.einsum("nd,nd->n", WX, X), np.einsum("nd,nd->d", WX, X)   # (N,), (D,)
    C, _ = codes_step(W, WX, P, mean, s_rows)                           # (N, K)
    beta, history = BETA_START, []
    for i in progress(range(max_iter), desc="weighted PCA", verbose=verbose):
        P_new, mean_new, value = components_step(W, WX, s_cols, C)
        accepted = False
        if extrapolate and i > 0:
            P_try, mean_try = P_new + beta * (P_new - P), mean_new + beta * (mean_new - mean)
            C_try, value_try = codes_step(W, WX, P_try, mean_try, s_rows)
            accepted = value_try < value
            beta = min(beta * BETA_GROW, BETA_MAX) if accepted else beta * BETA_SHRINK
        if accepted:
            P, mean, C, value = P_try, mean_try, C_try, value_try
        else:
            P, mean = P_new, mean_new
            C, value = codes_step(W, WX, P, mean, s_rows)
        history.append(value)
        if len(history) > 1 and history[-2] - history[-1] <= tol * history[-2]:
            break
    return C, P, mean, np.array(history)
