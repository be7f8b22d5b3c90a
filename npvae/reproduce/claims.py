"""The paper's claims beside npvae's numbers: the "paper vs npvae" table of the reproduce report.

Each :class:`Claim` holds the paper's sentence, the paper's number, the criterion and a function
that reads the run's results (the dicts of results/reconstruction.json and results/latent.json)
and returns npvae's number as text and whether the claim holds. A claim whose results are
missing (a latent size not trained, a stage not run) is "not computed", never a failure.
"""
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..paper import (CLASS_NAMES, CLASSES, N_STARS_IN_TOP10, N_WIDE_LATENTS_OF_10, NOISE_BIAS_SN,
                     NOISE_CROSSING_SN, TABLE1)
from .report import Section, table_html

__all__ = ["Claim", "CLAIMS", "evaluate_claims", "claims_section", "REPRODUCED", "NOT_REPRODUCED",
           "NOT_COMPUTED"]

REPRODUCED, NOT_REPRODUCED, NOT_COMPUTED = "reproduced", "not reproduced", "not computed"
ORDER = ("VAE", "AE", "NMF", "PCA")             # Fig. 3: best to worst
SIZES = tuple(sorted(TABLE1))                   # 2, 4, 6, 10 parameters
STARS = ("star_A", "star_M")                    # synthetic oddities that are stars


@dataclass(frozen=True)
class Claim:
    """One claim: ``check(results) -> (npvae's number as text, holds: bool)``."""

    sentence: str
    paper: str
    criterion: str
    check: Callable


def _mse(results, method, k, cls="all"):
    """Mean weighted squared error of ``method`` at ``k`` parameters for class ``cls``."""
    return float(results["reconstruction"]["weighted_mse"][method][str(k)][cls]["mean"])


def _ordering(results, k, cls):
    """(text, holds) for VAE < AE < NMF < PCA at k parameters."""
    values = [_mse(results, m, k, cls) for m in ORDER]
    text = ", ".join(f"{m} {v:.3g}" for m, v in zip(ORDER, values))
    return text, all(a < b for a, b in zip(values, values[1:]))


def _ordering_by_size(cls):
    def check(results):
        sizes = [k for k in SIZES if str(k) in results["reconstruction"]["weighted_mse"]["VAE"]]
        if not sizes:
            raise KeyError("no VAE size")
        held = [k for k in sizes if _ordering(results, k, cls)[1]]
        return f"holds at {held or 'none'} of {sizes}", held == sizes
    return check


def _at_least_as_good(vae_k, pca_k):
    def check(results):
        vae, pca = _mse(results, "VAE", vae_k), _mse(results, "PCA", pca_k)
        return f"VAE {vae_k}: {vae:.3g}, PCA {pca_k}: {pca:.3g}", vae <= pca
    return check


def _wide_latents(results):
    """Latents of the 10-latent VAE whose median reported variance exceeds the prior's (1)."""
    var = np.asarray(results["latent"]["latent_variance"]["10"], dtype=float)     # (10,)
    n = int(np.sum(var > 1.0))
    return f"{n} of 10 (median variances {', '.join(f'{v:.2g}' for v in var)})", n == N_WIDE_LATENTS_OF_10


def _separation(results):
    raw = results["latent"]["separation"]["raw"]
    pca = next(name for name in raw if name.startswith("PCA"))
    vae, other = raw["VAE"]["balanced_accuracy"], raw[pca]["balanced_accuracy"]
    return f"kNN balanced accuracy: VAE {vae:.3f}, {pca} {other:.3f}", vae > other


def _outliers(results):
    top = results["latent"]["outliers"]["top10"]
    stars = sum(r["oddity"] in STARS or r["label"] == "star" for r in top)
    odd = sum(bool(r["oddity"]) or r["label"] == "star" for r in top)
    kinds = ", ".join(f"{k} {n}" for k, n in _counts(r["oddity"] or r["label"] for r in top))
    has_truth = "precision_lof" in results["latent"]["outliers"]        # the synthetic survey's labels
    holds = stars >= 1 and (odd == len(top) or not has_truth)
    return f"{stars} stars, {odd} of {len(top)} atypical ({kinds})", holds


def _counts(items):
    items = list(items)
    return [(k, items.count(k)) for k in sorted(set(items))]


def _noise(results):
    n = results["latent"]["noise"]
    return n, [int(d) for d in n["constrained_dims"]]


def _crossing(results):
    n, dims = _noise(results)
    cross = [float(n["crossing_sn"][str(d)]) for d in dims]
    finite = [c for c in cross if math.isfinite(c)]
    if not finite:
        return "no crossing in the S/N range", False
    median = float(np.median(finite))
    return (f"median {median:.3g} over {len(finite)} constrained latents",
            NOISE_CROSSING_SN / 2 <= median <= 2 * NOISE_CROSSING_SN)


def _bias_limit(results):
    n, dims = _noise(results)
    sn = np.asarray(n["sn_levels"], dtype=float)                            # (L,)
    bias = np.abs(np.asarray(n["bias"], dtype=float)[:, dims])              # (L, C)
    order = np.argsort(sn)
    ok = np.all(bias[order] < 1.0, axis=1)                                  # (L,) sorted by S/N
    bad = np.flatnonzero(~ok)
    if bad.size == len(ok):
        return "|bias| >= 1 at every S/N", False
    limit = float(sn[order][bad[-1] + 1]) if bad.size else float(sn.min())
    return f"|bias| < 1 from S/N {limit:.3g} on", limit <= NOISE_BIAS_SN


def _claims():
    claims = [Claim(f"Fig. 3, all spectra, {k} parameters: VAE < AE < NMF < PCA", "ordering",
                    "strict ordering of the mean weighted squared errors",
                    lambda r, k=k: _ordering(r, k, "all")) for k in SIZES]
    claims += [Claim(f"Fig. 3, {CLASS_NAMES[c]}: VAE < AE < NMF < PCA at every size", "2, 4, 6, 10",
                     "ordering at every trained size", _ordering_by_size(c)) for c in CLASSES]
    claims += [
        Claim("a VAE with only two parameters reconstructs spectra at least as well as PCA with six components",
              "VAE 2 <= PCA 6", "mean weighted squared error, all spectra", _at_least_as_good(2, 6)),
        Claim("a VAE with six parameters can reconstruct spectra as well as PCA with 10 components",
              "VAE 6 <= PCA 10", "mean weighted squared error, all spectra", _at_least_as_good(6, 10)),
        Claim("in the 10-parameter VAE the latent variances of four of the parameters are typically wider "
              "than the prior", f"{N_WIDE_LATENTS_OF_10} of 10", "median over validation spectra of exp(logvar) "
              "> 1, same count", _wide_latents),
        Claim("the VAE latent space separates quiescent, emission-line, narrow-line AGN and broad-line AGN",
              "better than PCA", "kNN balanced accuracy VAE > PCA of the same dimension", _separation),
        Claim("LOF top 10: four stars misclassified as galaxies, all atypical in some way",
              f"{N_STARS_IN_TOP10} stars, 10 of 10 atypical", "at least one star; all atypical (when the "
              "truth is known)", _outliers),
        Claim("the latent variance underestimates the uncertainty for spectra with S/N < 25",
              f"S/N {NOISE_CROSSING_SN:g}", "median crossing within a factor 2", _crossing),
        Claim("the latent mean is not significantly biased if the spectrum has S/N >~ 8",
              f"S/N {NOISE_BIAS_SN:g}", f"|bias| < 1 latent std for every S/N from <= {NOISE_BIAS_SN:g} on",
              _bias_limit),
    ]
    return claims


CLAIMS = _claims()


def evaluate_claims(reconstruction, latent, claims=CLAIMS):
    """One dict per claim: claim, paper, criterion, npvae (text) and verdict."""
    results = {"reconstruction": reconstruction, "latent": latent}
    rows = []
    for claim in claims:
        try:
            number, holds = claim.check(results)
            verdict = REPRODUCED if holds else NOT_REPRODUCED
        except (KeyError, TypeError, IndexError, StopIteration):
            number, verdict = "-", NOT_COMPUTED
        rows.append({"claim": claim.sentence, "paper": claim.paper, "criterion": claim.criterion,
                     "npvae": number, "verdict": verdict})
    return rows


def claims_section(rows):
    """The report section: the table and a count of each verdict."""
    counts = ", ".join(f"{sum(r['verdict'] == v for r in rows)} {v}"
                       for v in (REPRODUCED, NOT_REPRODUCED, NOT_COMPUTED))
    table = table_html([[r["claim"], r["paper"], r["npvae"], r["criterion"], r["verdict"]] for r in rows],
                       ["the paper says", "paper", "npvae", "criterion", "verdict"])
    return Section("Paper vs npvae", [f"Each claim of Portillo et al. 2020 beside this run's number: {counts}."],
                   [table])
