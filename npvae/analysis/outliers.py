"""Outlier scores in latent space and in reconstruction, and how well they find known oddities.

The paper (Sec. 3.3, Table 2, Fig. 15) ranks all spectra by the local outlier factor (LOF,
Breunig et al. 2000) of their latent means with k = 20 neighbours. We add a second score, the
reduced chi^2 of the reconstruction, and on the synthetic survey, where the odd objects are
labelled, the precision of each score at the top of its list and its ROC AUC.
Doc: docs/analysis.md.

Shapes: N spectra, Z latent dimensions, D pixels.
"""
import numpy as np
from astropy.table import Table
from npvae.analysis.axes import check_latent
from npvae.analysis.kdtree import KdTree
from npvae.analysis.ranks import average_ranks
from npvae.paper import LOF_K
from npvae.utils import NpvaeError

__all__ = ["lof_scores", "fit_lof_reference", "lof_novelty_scores", "LofReference", "chi2_scores", "top_outliers", "top_outlier_table",
           "TOP_COLUMNS", "precision_at", "roc_auc",
           "outlier_precision"]


def lof_scores(mu, k=LOF_K):
    """Local outlier factor of each latent mean (higher = more outlying, ~1 for inliers).

    LOF_k(p) = mean_{o in N_k(p)} lrd_k(o) / lrd_k(p), where lrd is the inverse mean
    reachability distance max(d_k(o), |p - o|) to the k nearest neighbours (p itself left
    out). The numbers of scikit-learn's ``-LocalOutlierFactor(n_neighbors=k)
    .fit(mu).negative_outlier_factor_`` (bit for bit below 8 dimensions; see
    :class:`LofReference`): the fit of :func:`fit_lof_reference`.

    Parameters
    ----------
    mu : (N, Z) latent means, N > k.
    k : int, number of neighbours (20 in the paper).

    Returns
    -------
    scores : (N,)
    """
    mu = check_latent(mu)
    if not 1 <= int(k) < mu.shape[0]:
        raise NpvaeError(f"the local outlier factor with k = {k} neighbours needs at least {int(k) + 1} "
                         f"spectra, got {mu.shape[0]}")
    lof, neighbours = _fit_lof(mu, int(k))                                 # neighbours (N, k)
    return np.mean(lof.lrd[neighbours] / lof.lrd[:, np.newaxis], axis=1)   # (N,)


class LofReference:
    """A local outlier factor fitted on reference latents (N, Z), scoring new points through a kd-tree.

    The fit is scikit-learn's ``LocalOutlierFactor(n_neighbors=k, novelty=True).fit``, step for
    step. Each reference point o gets its k nearest other reference points N_k(o): the k + 1
    nearest from :class:`npvae.analysis.kdtree.KdTree` (the distances of scikit-learn's kd-tree,
    bit for bit below Z = 8; from 8 on the squared distances are summed in another order, last-bit
    differences), o itself dropped by its index (a duplicate of o stays a neighbour, at
    distance 0; when o has more than k duplicates and is not among its own k + 1 nearest, the
    first is dropped instead, as scikit-learn does). Then its k-distance d_k(o) (the k-th
    distance) and local reachability density

    .. math:: lrd(o) = 1 / (mean_{n in N_k(o)} max(d_k(n), |o - n|) + 10^{-10}).

    A new point p is scored as ``score_samples`` does: its k nearest reference points o,
    lrd(p) by the same formula and LOF(p) = mean_o lrd(o) / lrd(p), with the same operations in
    the same order. Equally distant neighbours come in index order (scikit-learn's order among
    them is its tree's): no number changes when they are duplicates of each other, but where
    distinct points tie at the k-th distance, which of them count (and so lrd) may differ.

    Attributes
    ----------
    tree : KdTree over the reference points.
    k_distance : (N,) d_k(o).
    lrd : (N,) lrd(o).
    k : int, neighbours.
    """

    def __init__(self, tree, k, k_distance, lrd):
        self.tree, self.k, self.k_distance, self.lrd = tree, k, k_distance, lrd

    def scores(self, mu):
        """LOF (B,) of new latent means (B, Z) float64; higher = more outlying."""
        dist, idx = self.tree.query(mu, self.k)                           # (B, k) each, nearest first
        lrd = _reachability_density(dist, self.k_distance[idx])           # (B,)
        return np.mean(self.lrd[idx] / lrd[:, np.newaxis], axis=1)        # (B,)


def _reachability_density(dist, k_distance):
    """lrd = 1 / (mean_k max(d_k(o), dist) + 1e-10) of points whose neighbours o are at dist (B, k).

    ``k_distance`` (B, k): each neighbour's d_k(o). The 1e-10 keeps a point with more than k
    duplicates (every distance 0) finite.
    """
    reach = np.maximum(dist, k_distance)                                  # (B, k) reachability distances
    return 1.0 / (np.mean(reach, axis=1) + 1e-10)                         # (B,)


def _fit_lof(reference, k):
    """The LOF fit on reference points (N, Z) float64 -> (LofReference, N_k(o) (N, k) indices)."""
    tree = KdTree(reference)
    dist, neighbours = _neighbours_of_reference(tree, reference, k)       # (N, k) each
    k_distance = dist[:, -1]                                              # (N,) d_k(o)
    lrd = _reachability_density(dist, k_distance[neighbours])             # (N,)
    return LofReference(tree, k, k_distance, lrd), neighbours


def _neighbours_of_reference(tree, reference, k):
    """Each reference point's k nearest OTHER reference points -> dist, index (N, k), nearest first.

    The k + 1 nearest, the point itself dropped by index; where it is not among them (more than
    k duplicates of it come first), the first one dropped (scikit-learn's ``kneighbors(X=None)``).
    """
    dist, idx = tree.query(reference, k + 1)                              # (N, k + 1) each
    keep = idx != np.arange(len(reference))[:, np.newaxis]                # (N, k + 1) not the point itself
    keep[keep.all(axis=1), 0] = False                                     # itself not found: drop the first
    return dist[keep].reshape(-1, k), idx[keep].reshape(-1, k)            # (N, k) each


def fit_lof_reference(reference, k=LOF_K):
    """A local outlier factor fitted once on reference latent means, to score NEW points.

    The fit of scikit-learn's ``LocalOutlierFactor(n_neighbors=k, novelty=True)`` on ``reference``
    (N, Z), N > k (e.g. the training set's latent means), as a :class:`LofReference`; score with
    :func:`lof_novelty_scores`. A new point's score depends only on it and the reference,
    never on the other new points.
    """
    reference = check_latent(reference, "reference latents")
    if not 1 <= int(k) < reference.shape[0]:
        raise NpvaeError(f"k must be in 1..N-1 = {reference.shape[0] - 1} reference points, got {k}")
    return _fit_lof(reference, int(k))[0]


def lof_novelty_scores(lof, mu):
    """LOF of new latent means (B, Z) against the reference of :func:`fit_lof_reference`.  -> (B,)

    Higher = more outlying, about 1 for a point inside the reference's distribution. ``lof``
    may also be a fitted scikit-learn ``LocalOutlierFactor(novelty=True)``.
    """
    if isinstance(lof, LofReference):
        return lof.scores(check_latent(mu))                        # (B,)
    return -lof.score_samples(check_latent(mu))                    # (B,)


def chi2_scores(X, Xhat, W):
    """Reduced chi^2 of each reconstruction: sum_d w_d (x_d - xhat_d)^2 / #(w_d > 0).

    Parameters
    ----------
    X, Xhat : (N, D) spectra and their reconstructions.
    W : (N, D) inverse-variance weights, 0 on bad pixels.

    Returns
    -------
    scores : (N,); NaN for a spectrum without a single good pixel.
    """
    X, Xhat, W = (np.asarray(a, dtype=np.float64) for a in (X, Xhat, W))
    if not (X.shape == Xhat.shape == W.shape) or X.ndim != 2:
        raise NpvaeError(f"X, Xhat, W must be (N, D) of one shape, got {X.shape}, {Xhat.shape}, "
                         f"{W.shape}")
    if np.any(W < 0) or not np.isfinite(W).all():
        raise NpvaeError("W must be finite and non-negative (0 marks bad pixels)")
    good = W > 0                                                   # (N, D)
    resid2 = np.where(good, W * (X - Xhat) ** 2, 0.0)              # (N, D)
    n_good = good.sum(axis=1)                                      # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_good > 0, resid2.sum(axis=1) / n_good, np.nan)


def top_outliers(scores, n=10):
    """Indices of the ``n`` highest scores, highest first, equal scores in index order (NaN never chosen).

    Only the candidates at or above the n-th highest score are sorted (a partition first).
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n = max(0, int(n))
    key = np.where(np.isnan(scores), np.inf, -scores)                # (N,) ascending = most outlying first
    if 0 < n < len(key):
        cut = np.partition(key, n - 1)[n - 1]                          # the n-th smallest key
        candidates = np.flatnonzero(key <= cut)                        # (>= n,) in index order
    else:
        candidates = np.arange(len(key) if n else 0)
    order = candidates[np.argsort(key[candidates], kind="stable")]   # ties stay in index order
    return order[~np.isnan(scores[order])][:n]


TOP_COLUMNS = ("PLATE", "MJD", "FIBERID", "Z", "CLASS", "LABEL", "OUTLIER", "RCHI2", "SOURCE", "ROW")


def top_outlier_table(table, n=10, score="OUTLIER"):
    """The ``n`` rows of a latents table with the highest ``score``, highest first.

    Parameters
    ----------
    table : Table with a ``score`` column (N,), e.g. the LATENTS table of ``npvae encode`` (or
        what reads like one: ``colnames`` and columns that take an index array, such as
        :class:`npvae.apply.columns.LatentColumns`; only the chosen rows of each column are read).
    n : int, rows wanted (fewer when fewer scores are finite: NaN is never chosen).
    score : str, the column ranked (OUTLIER: the LOF; RCHI2: the reconstruction chi^2).

    Returns
    -------
    Table: RANK (1 = most outlying), INDEX (row of ``table``) and those of :data:`TOP_COLUMNS`
    that ``table`` has. Equal scores keep the table's order (:func:`top_outliers` is a stable
    sort), so the result depends only on the table, never on how it was computed.
    """
    if score not in table.colnames:
        raise NpvaeError(f"the table has no column {score!r} to rank")
    if int(n) < 1:
        raise NpvaeError(f"n must be >= 1, got {n}")
    index = top_outliers(np.asarray(table[score]), n)                  # (n,)
    out = Table({"RANK": np.arange(1, len(index) + 1), "INDEX": index})
    for name in TOP_COLUMNS:
        if name in table.colnames:
            out[name] = np.asarray(table[name][index])                     # only those rows read
    return out


def precision_at(scores, is_oddity, k):
    """Fraction of true oddities among the ``k`` highest scores."""
    top = top_outliers(scores, k)
    return float(np.asarray(is_oddity, dtype=bool)[top].mean()) if top.size else np.nan


def roc_auc(scores, is_positive):
    """Area under the ROC curve from ranks (Mann-Whitney U), ties counted one half.

    AUC = (sum of the positives' ranks - P (P + 1) / 2) / (P Q), with P positives, Q negatives
    and average ranks for ties; NaN scores rank lowest.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    pos = np.asarray(is_positive, dtype=bool).ravel()
    if scores.shape != pos.shape:
        raise NpvaeError(f"scores {scores.shape} and labels {pos.shape} differ in length")
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = average_ranks(np.where(np.isnan(scores), -np.inf, scores))  # (N,)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def outlier_precision(scores, is_oddity, ks=(10, 50, 100)):
    """Precision at each k and ROC AUC of a score for the labelled oddities.

    Parameters
    ----------
    scores : (N,) higher = more outlying.
    is_oddity : (N,) bool, or a str array where "" marks normal objects.
    ks : precisions reported, as ``precision_at_{k}``.

    Returns
    -------
    dict with ``precision_at_{k}``, ``roc_auc``, ``n_oddities``, ``base_rate``.
    """
    odd = np.asarray(is_oddity)
    if odd.dtype.kind in "US":
        odd = np.char.strip(odd.astype(str)) != ""
    odd = odd.astype(bool)
    if odd.shape != np.shape(scores):
        raise NpvaeError(f"is_oddity has shape {odd.shape}, scores {np.shape(scores)}")
    out = {f"precision_at_{k}": precision_at(scores, odd, k) for k in ks}
    out.update(roc_auc=roc_auc(scores, odd), n_oddities=int(odd.sum()),
               base_rate=float(odd.mean()))
    return out
