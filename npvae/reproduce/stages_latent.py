"""Stage ``latent`` of ``npvae reproduce``: the latent space of the 6-latent VAE (Figs. 8-17, Table 2).

Latent axes ("VAE 1..Z", the PCA of the training latent means), the corner plot, the four
tracks, the single-axis traversals, outliers by local outlier factor and by reconstruction
chi^2 (with their precision for the synthetic survey's labelled oddities), stars projected
into the latent space, the noise-sensitivity experiment and the class-separation scores
(VAE latent space vs PCA coefficients of the same dimension, and the correlation of each VAE
axis with the synthetic truth), and the median reported latent variance of every trained VAE.
Shapes: N spectra, D pixels, Z latent.
"""
import logging

import numpy as np

from ..analysis.axes import fit_latent_axes
from ..analysis.noise import noise_sensitivity
from ..analysis.outliers import chi2_scores, lof_scores, outlier_precision, top_outliers
from ..analysis.separation import compare_separation, truth_correlations
from ..analysis.tracks import TRACK_PRESETS, decode_track, preset_track
from ..analysis.traversals import axis_traversals, decode_traversals
from ..baselines import PCA
from ..data.dataset import pipeline_stars
from ..explore import write_explorer
from ..paper import LOF_K
from ..plots import latent as P
from ..train import load
from ..utils import as_generator
from .config import LATENT_FOR_ANALYSIS
from .stages_recon import model_path, split

__all__ = ["stage_latent", "stage_explorer", "star_rows", "analysed_vae", "SN_LEVELS"]

log = logging.getLogger("npvae.reproduce")

TRUTH_COLUMNS = ("TRUE_AGE_LW", "TRUE_MH", "TRUE_EBV", "TRUE_SIGMA_STAR", "TRUE_SIGMA_GAS",
                 "TRUE_AGN_FRAC", "TRUE_BURST_FRAC", "TRUE_Z", "TRUE_SN")
SN_LEVELS = (2, 4, 6, 8, 10, 15, 20, 30, 50, 80)


def _pick_latent(ctx):
    """The latent size the paper analyses (6), or the largest one trained."""
    latents = ctx.config["latents"]
    return LATENT_FOR_ANALYSIS if LATENT_FOR_ANALYSIS in latents else max(latents)


def analysed_vae(ctx):
    """(Z, the trained VAE with Z latents) of the latent-space analyses."""
    n_latent = _pick_latent(ctx)
    return n_latent, load(model_path(ctx, "vae", n_latent))


def stage_latent(ctx):
    """results/latent.json and Figures 8 to 17."""
    if ctx.done("results/latent.json"):
        log.info("latent: reusing results")
        return
    n_latent, vae = analysed_vae(ctx)
    train, valid = split(ctx)
    data, rng = ctx.data, as_generator(ctx.config["seed"])
    flux, weight = np.asarray(data.flux, np.float32), np.asarray(data.weight, np.float32)
    labels = data.labels
    is_star = star_rows(data.catalog)
    mu_all, _ = vae.encode(flux)                                  # (N, Z)
    axes = fit_latent_axes(vae.transform(train.flux))
    coords = axes.transform(mu_all)                               # (N, Z)
    names = [f"VAE {k + 1}" for k in range(n_latent)]
    res = {"n_latent": n_latent, "explained_variance_ratio": axes.explained_variance_ratio_}
    gal = ~is_star

    # Fig. 8: corner plot
    ctx.figure(P.plot_corner(coords[gal], labels[gal], n_axes=min(6, n_latent), axis_names=names),
               "fig08_corner")
    # Figs. 9-13: tracks
    tracks, res["tracks"] = [], {}
    for preset in TRACK_PRESETS:
        try:
            track = preset_track(preset, mu_all[gal], labels[gal], axes)
        except Exception as err:                                  # e.g. a class absent from the data
            log.info("  track %s skipped: %s", preset, err)
            continue
        tracks.append(track)
        spectra = decode_track(vae.decode, track.centroids)
        res["tracks"][preset] = {"counts": track.counts, "points": track.point_names}
        ctx.figure(P.plot_offset_spectra(data.wave, spectra, names=track.point_names,
                                         title=f"Track: {preset.replace('_', ' ')}"), f"fig{10 + len(tracks) - 1:02d}_track_{preset}")
    pairs = tuple(p for p in ((0, 1), (0, 4)) if max(p) < n_latent)
    ctx.figure(P.plot_track_projections(coords[gal], labels[gal], tracks, axes, pairs=pairs), "fig09_tracks")
    # Fig. 14: traversals
    points, _ = axis_traversals(axes, mu_all[gal], n_axes=min(6, n_latent))
    ctx.figure(P.plot_traversals(data.wave, decode_traversals(vae.decode, points)), "fig14_traversals")
    # Table 2, Figs. 15-16: outliers and stars
    res["outliers"] = _outliers(ctx, vae, mu_all, flux, weight, data)
    if is_star.any():
        ctx.figure(P.plot_stars_in_latent(coords[gal], labels[gal], coords[is_star], pairs=pairs), "fig16_stars")
    # Fig. 17: noise sensitivity
    res["noise"] = _noise(ctx, vae, valid, rng)
    # class separation and truth correlations
    res["separation"] = _separation(ctx, train, valid, vae, n_latent, rng)
    res["truth_correlations"] = _truth(ctx, data, coords, names)
    res["latent_variance"] = _latent_variance(ctx, valid)
    ctx.save_json("latent.json", res)


def stage_explorer(ctx):
    """explorer.html: the interactive latent-space explorer of the analysed VAE (npvae.explore)."""
    if ctx.done("explorer.html"):
        log.info("explorer: reusing %s", ctx.path("explorer.html"))
        return
    _, vae = analysed_vae(ctx)
    write_explorer(ctx.path("explorer.html"), vae, ctx.data, seed=ctx.config["seed"])
    log.info("explorer: %s", ctx.path("explorer.html"))


def _latent_variance(ctx, valid):
    """{Z: (Z,) median over validation spectra of the reported variance exp(logvar)} per trained VAE."""
    out = {}
    for n_latent in ctx.config["latents"]:
        path = model_path(ctx, "vae", n_latent)
        if path.exists():
            _, logvar = load(path).encode(valid.flux)                   # (V, Z)
            out[int(n_latent)] = np.median(np.exp(logvar), axis=0)      # (Z,)
    return out


def star_rows(catalog):
    """(N,) bool: pipeline CLASS STAR, or (synthetic truth) TRUE_CLASS star: mis-classified stars."""
    is_star = pipeline_stars(catalog)
    if "TRUE_CLASS" in catalog.colnames:
        is_star |= np.char.strip(np.asarray(catalog["TRUE_CLASS"], dtype=str)) == "star"
    return is_star


def _outliers(ctx, vae, mu_all, flux, weight, data):
    lof = lof_scores(mu_all, k=LOF_K)                                # (N,)
    chi2 = chi2_scores(flux, vae.reconstruct(flux), weight)       # (N,)
    top = top_outliers(lof, n=10)
    cat = data.catalog
    rows = [{"rank": r + 1, "row": int(i), "plate": int(cat["PLATE"][i]), "mjd": int(cat["MJD"][i]),
             "fiber": int(cat["FIBERID"][i]), "label": str(cat["LABEL"][i]),
             "oddity": str(cat["ODDITY"][i]) if "ODDITY" in cat.colnames else "", "lof": float(lof[i])}
            for r, i in enumerate(top)]
    ids = [f"#{r['rank']} {r['plate']}-{r['mjd']}-{r['fiber']} {r['oddity'] or r['label']}" for r in rows]
    ctx.figure(P.plot_outlier_spectra(data.wave, flux[top], weight[top] == 0, ids, lof[top]), "fig15_outliers")
    out = {"top10": rows}
    if "ODDITY" in cat.colnames:
        odd = np.asarray(cat["ODDITY"], dtype=str)
        out["precision_lof"] = outlier_precision(lof, odd)
        out["precision_chi2"] = outlier_precision(chi2, odd)
    return out


def _noise(ctx, vae, valid, rng):
    best = int(np.argmax(np.asarray(valid.catalog["SN_MEDIAN"])))
    result = noise_sensitivity(vae.encode, valid.flux[best], valid.weight[best], SN_LEVELS,
                               n_draws=ctx.config["noise_draws"], rng=rng)
    ctx.figure(P.plot_noise_sensitivity(result), "fig17_noise")
    dims = np.flatnonzero(result.constrained)
    return {"row": best, "sn_median": float(valid.catalog["SN_MEDIAN"][best]), "sn_levels": result.sn_levels,
            "constrained_dims": dims, "ratio": result.ratio, "bias": result.bias,
            "crossing_sn": {int(d): result.crossing_sn(int(d)) for d in dims}}


def _separation(ctx, train, valid, vae, n_latent, rng):
    labels = valid.labels
    keep = np.isin(labels, ["quiescent", "emission", "nlagn", "blagn"])
    pca = PCA(n_latent).fit(train.flux)
    codes = {"VAE": vae.transform(valid.flux)[keep], f"PCA {n_latent}": pca.transform(valid.flux)[keep]}
    result = compare_separation(codes, labels[keep], rng=rng)
    result_std = compare_separation(codes, labels[keep], rng=rng, standardize=True)
    ctx.figure(P.plot_separation(result), "fig18_separation")
    return {"raw": result, "standardized": result_std}


def _truth(ctx, data, coords, names):
    cols = [c for c in TRUTH_COLUMNS if c in data.catalog.colnames]
    if not cols:
        return None
    gal = np.isin(data.labels, ["quiescent", "emission", "nlagn", "blagn"])
    truth = {c: np.asarray(data.catalog[c], np.float64)[gal] for c in cols}
    result = truth_correlations(coords[gal], truth)
    ctx.figure(P.plot_truth_correlations(result, axis_names=names), "fig19_truth_correlations")
    return {"params": result.params, "rho": result.rho, "best_axis": result.best_axis()}
