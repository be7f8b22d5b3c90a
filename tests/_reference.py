"""Reference implementations shared by the tests (never by the package): slow and obvious."""
import numpy as np
from astropy.io import fits
from astropy.table import Table

from npvae.commands.encode import FORMAT_NAME, IMAGES, primary_hdu
from npvae.data.preprocess import REST_WAVE


def textbook_adam(P, G, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Kingma & Ba (2015), Algorithm 1, with explicit bias correction, on a dict of arrays."""
    state["t"] += 1
    t = state["t"]
    for k in P:
        state["m"][k] = beta1 * state["m"][k] + (1 - beta1) * G[k]
        state["v"][k] = beta2 * state["v"][k] + (1 - beta2) * G[k] ** 2
        m_hat = state["m"][k] / (1 - beta1 ** t)
        v_hat = state["v"][k] / (1 - beta2 ** t)
        P[k] = P[k] - lr * m_hat / (np.sqrt(v_hat) + eps)


def weighted_pca_reference(X, W, mean, P, max_iter, tol):
    """Weighted PCA by plain alternating least squares, each step's normal equations written out
    with einsum and solved by np.linalg.solve (npvae's first implementation).

    Returns codes C (N, K), components P (K, D), mean (D,) and chi^2 after each iteration.
    """
    def solve(A, b):                                      # the relative ridge of npvae.baselines.als
        K = A.shape[-1]
        scale = np.trace(A, axis1=1, axis2=2) / K
        A = A + 1e-10 * np.where(scale > 0, scale, 1.0)[:, None, None] * np.eye(K)
        return np.linalg.solve(A, b[..., None])[..., 0]

    def codes(P, mean):
        return solve(np.einsum("nd,kd,ld->nkl", W, P, P), np.einsum("nd,nd,kd->nk", W, X - mean, P))

    history = []
    for _ in range(max_iter):
        C = codes(P, mean)                                                          # (N, K)
        Ct = np.hstack([C, np.ones((len(C), 1))])                                   # (N, K+1)
        Pt = solve(np.einsum("nd,nk,nl->dkl", W, Ct, Ct), np.einsum("nd,nd,nk->dk", W, X, Ct))   # (D, K+1)
        P, mean = Pt[:, :-1].T, Pt[:, -1]
        history.append(float((W * (X - mean - C @ P) ** 2).sum()))
        if len(history) > 1 and history[-2] - history[-1] <= tol * history[-2]:
            break
    return codes(P, mean), P, mean, np.array(history)


def knn_reference(points, x, k):
    """Slow reference: the k nearest points of each query, all distances sorted.  -> dist, index (B, K).

    Squared distances summed in cKDTree's order (npvae.analysis.kdtree's ``_leaf_sq_dists``), ranked by (distance, index).
    """
    points, x = np.asarray(points, np.float64), np.asarray(x, np.float64)
    sq = (x[:, None, :] - points[None, :, :]) ** 2                          # (B, N, Z)
    four = 4 * (sq.shape[2] // 4)
    acc = [sq[:, :, i:four:4].sum(axis=2) if four else 0.0 for i in range(4)]   # each (B, N): one or two terms
    d2 = acc[0] + acc[1] + acc[2] + acc[3]                                   # (B, N) left to right
    for i in range(four, sq.shape[2]):
        d2 = d2 + sq[:, :, i]
    order = np.lexsort((np.broadcast_to(np.arange(len(points)), d2.shape), d2), axis=1)[:, :k]   # (B, K)
    return np.sqrt(np.take_along_axis(d2, order, axis=1)), order


def write_latents_astropy(path, table, skipped, keywords):
    """npvae encode's LATENTS file written by astropy alone (table_to_hdu + writeto): the slow
    reference of :func:`npvae.commands.encode.write_latents` (its implementation until the
    NumPy packing of npvae.data.fitstable)."""
    primary = primary_hdu((FORMAT_NAME, "npvae latents file format"), (len(table), "spectra encoded"),
                          len(skipped), keywords)
    images = [name for name in IMAGES if name in table.colnames]
    latents = fits.table_to_hdu(Table({c: table[c] for c in table.colnames if c not in images}))
    latents.name = "LATENTS"
    sources = np.array([s for s, _ in skipped] or [""], dtype=str)[:len(skipped)]
    reasons = np.array([r for _, r in skipped] or [""], dtype=str)[:len(skipped)]
    skip_hdu = fits.table_to_hdu(Table({"SOURCE": sources, "REASON": reasons}))
    skip_hdu.name = "SKIPPED"
    hdus = [primary, latents, skip_hdu]
    for name in images:
        hdus.append(fits.ImageHDU(np.asarray(table[name], np.float32), name=name))
    if images:
        hdus.append(fits.ImageHDU(REST_WAVE, name="WAVE"))
        hdus[-1].header["BUNIT"] = "Angstrom"
    fits.HDUList(hdus).writeto(path, overwrite=True)
    return path
