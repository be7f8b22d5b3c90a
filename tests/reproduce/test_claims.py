"""The paper-vs-npvae verdicts follow from the numbers: results with planted numbers, known verdicts."""
import copy

import pytest

from npvae.paper import CLASSES
from npvae.reproduce.claims import CLAIMS, NOT_COMPUTED, NOT_REPRODUCED, REPRODUCED, evaluate_claims

SIZES = (2, 4, 6, 10)


def _recon(values):
    """weighted_mse with ``values[method][k]`` for all spectra and every class."""
    return {"weighted_mse": {m: {str(k): {c: {"mean": v} for c in ("all",) + CLASSES} for k, v in by_k.items()}
                             for m, by_k in values.items()}}


# the paper's picture: VAE < AE < NMF < PCA at every size; VAE 2 (1.0) <= PCA 6 (1.1); VAE 6 (0.5) <= PCA 10 (0.6)
GOOD = {"VAE": {2: 1.0, 4: 0.7, 6: 0.5, 10: 0.45}, "AE": {2: 1.2, 4: 0.8, 6: 0.6, 10: 0.5},
        "NMF": {2: 2.0, 4: 1.3, 6: 1.0, 10: 0.55}, "PCA": {2: 2.5, 4: 1.5, 6: 1.1, 10: 0.6}}

LATENT = {
    "latent_variance": {"10": [0.01, 0.02, 0.1, 0.5, 0.9, 0.99, 1.2, 1.5, 3.0, 1.01]},   # four wider than the prior (1)
    "separation": {"raw": {"VAE": {"balanced_accuracy": 0.9}, "PCA 6": {"balanced_accuracy": 0.8}}},
    "outliers": {"top10": [{"oddity": "star_M", "label": "quiescent"}] * 4
                 + [{"oddity": "camera_jump", "label": "emission"}] * 6, "precision_lof": {}},
    "noise": {"constrained_dims": [0, 2], "crossing_sn": {"0": 20.0, "2": 30.0},
              "sn_levels": [2, 4, 8, 16, 32],
              # |bias| of latents 0 and 2 below 1 from S/N 8 on; latent 1 (unconstrained) ignored
              "bias": [[3.0, 9, 0.5], [1.5, 9, 0.2], [0.9, 9, -0.8], [0.3, 9, 0.1], [0.1, 9, 0.0]]},
}


def _verdicts(recon, latent):
    return {r["claim"]: r["verdict"] for r in evaluate_claims(recon, latent)}


def test_the_papers_numbers_are_reproduced_everywhere():
    verdicts = _verdicts(_recon(GOOD), LATENT)
    assert len(verdicts) == len(CLAIMS)
    assert set(verdicts.values()) == {REPRODUCED}


FIG3 = "Fig. 3, "                 # a Fig. 3 change also flips the four per-class rows (every class planted alike)


@pytest.mark.parametrize("change, flipped_claims", [
    (lambda r, l: r["AE"].update({6: 0.45}), ["Fig. 3, all spectra, 6 parameters"] + [FIG3] * 4),
    (lambda r, l: r["NMF"].update({10: 0.7}), ["Fig. 3, all spectra, 10 parameters"] + [FIG3] * 4),
    (lambda r, l: r["VAE"].update({2: 1.15}), ["a VAE with only two"]),           # VAE 2 > PCA 6, order kept
    (lambda r, l: r["PCA"].update({10: 0.49}), ["a VAE with six", "Fig. 3, all spectra, 10"] + [FIG3] * 4),
    (lambda r, l: l["latent_variance"].update({"10": [0.01] * 7 + [2.0] * 3}), ["in the 10-parameter"]),
    (lambda r, l: l["separation"]["raw"]["PCA 6"].update(balanced_accuracy=0.95), ["the VAE latent space"]),
    (lambda r, l: l["outliers"].update(top10=[{"oddity": "", "label": "quiescent"}] + l["outliers"]["top10"][1:]),
     ["LOF top 10"]),                                                             # one normal spectrum
    (lambda r, l: l["outliers"].update(top10=[{"oddity": "low_sn", "label": "emission"}] * 10), ["LOF top 10"]),
    (lambda r, l: l["noise"].update(crossing_sn={"0": 60.0, "2": 70.0}), ["the latent variance"]),   # > 2 x 25
    (lambda r, l: l["noise"]["bias"][2].__setitem__(2, 1.2), ["the latent mean"]),   # biased at S/N 8: limit 16
])
def test_each_planted_departure_flips_only_its_claims(change, flipped_claims):
    recon, latent = copy.deepcopy(GOOD), copy.deepcopy(LATENT)
    change(recon, latent)
    verdicts = _verdicts(_recon(recon), latent)
    flipped = sorted(c for c, v in verdicts.items() if v == NOT_REPRODUCED)
    assert len(flipped) == len(flipped_claims)
    for start in set(flipped_claims):
        assert sum(c.startswith(start) for c in flipped) >= flipped_claims.count(start)
    assert all(v != NOT_COMPUTED for v in verdicts.values())


def test_per_class_ordering_and_missing_results():
    recon = _recon(GOOD)
    recon["weighted_mse"]["AE"]["4"]["blagn"]["mean"] = 0.6          # AE beats VAE for broad-line AGN at 4
    verdicts = _verdicts(recon, LATENT)
    assert verdicts["Fig. 3, broad-line AGN: VAE < AE < NMF < PCA at every size"] == NOT_REPRODUCED
    assert verdicts["Fig. 3, quiescent: VAE < AE < NMF < PCA at every size"] == REPRODUCED
    assert verdicts["Fig. 3, all spectra, 4 parameters: VAE < AE < NMF < PCA"] == REPRODUCED
    verdicts = _verdicts(None, None)
    assert set(verdicts.values()) == {NOT_COMPUTED}
