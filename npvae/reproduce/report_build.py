"""Stage ``report``: metrics.json and report.html from the results and figures of the run.

Every number in the report is read from results/*.json, which the stages wrote; nothing is
recomputed here.
"""
import html
import json
import logging

import numpy as np

from ..paper import CLASSES as PAPER_CLASSES, LOF_K
from ..utils import atomic_write
from .claims import claims_section, evaluate_claims
from .config import versions
from .report import Section, table_html, write_report
from .report_beyond import beyond_sections

__all__ = ["build_report"]

log = logging.getLogger("npvae.reproduce")
CLASSES = ("all",) + PAPER_CLASSES


def _load(ctx, name):
    path = ctx.path("results", name)
    return json.loads(path.read_text()) if path.exists() else None


def build_report(ctx):
    """Write metrics.json and report.html."""
    recon, latent, models, beyond = (_load(ctx, n) for n in ("reconstruction.json", "latent.json", "models.json",
                                                             "beyond.json"))
    claims = evaluate_claims(recon, latent)
    metrics = {"paper_vs_npvae": claims, "config": ctx.config, "versions": versions(),
               "timings_s": ctx.timings, "models": models, "reconstruction": recon, "latent": latent, "beyond": beyond}
    with atomic_write(ctx.path("metrics.json")) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=str))
    sections = [claims_section(claims)] + (beyond_sections(ctx, beyond) if beyond else []) + [_data_section(ctx)]
    if models:
        sections.append(_models_section(models))
    if recon:
        sections += _recon_sections(ctx, recon)
    if latent:
        sections += _latent_sections(ctx, latent)
    sections.append(Section("Configuration, timings and versions", tables=[
        table_html([[k, str(v)] for k, v in ctx.config.items()], ["setting", "value"]),
        table_html([[k, f"{v:.1f}"] for k, v in ctx.timings.items()], ["stage", "seconds"]),
        table_html([[k, v] for k, v in versions().items()], ["package", "version"])]))
    source = ctx.config["data"] or "a synthetic SDSS-like survey made by npvae.synthetic"
    intro = (f"<p>Reproduction of Portillo et al. 2020 (AJ 160, 45) on {html.escape(source)}, "
             f"preset <b>{ctx.config['preset']}</b>. Figures are numbered as in the paper.</p>")
    if ctx.path("explorer.html").exists():
        intro += ("<p><a href='explorer.html'>Explore the latent space</a>: the latent means on any pair "
                  "of axes, the spectra, and the decoder running in the page (explorer.html).</p>")
    write_report(ctx.path("report.html"), "npvae reproduce: Dimensionality Reduction of SDSS Spectra "
                 "with Variational Autoencoders", sections, intro)
    log.info("report: %s", ctx.path("report.html"))


def _data_section(ctx):
    labels = ctx.data.labels
    names, counts = np.unique(labels, return_counts=True)
    split = ctx.data.split
    rows = [[n, int(c), int(np.sum((labels == n) & (split == "train"))), int(np.sum((labels == n) & (split == "valid")))]
            for n, c in zip(names, counts)]
    return Section("Data", [f"{len(labels)} spectra on the rest-frame grid of 1000 pixels "
                            f"(log10 lambda = 3.53 + 3.9e-4 i)."],
                   [table_html(rows, ["class", "spectra", "train", "valid"])])


def _models_section(models):
    rows = [[name, "-".join(str(v) for v in [m["config"]["n_features"], *m["config"]["hidden"],
                                               m["config"]["n_latent"]]),
             m["config"].get("lam", "-"), m["epochs"], m["best_epoch"], m["val_recon"], m["seconds"]]
            for name, m in sorted(models.items())]
    return Section("Trained models", ["Architectures and lambda from the paper's Table 1; Adam, batch 64, "
                                      "learning rate x0.1 on the 6th epoch without improvement (PyTorch's "
                                      "ReduceLROnPlateau, patience 5), early stopping after 10, the best "
                                      "epoch's weights kept."],
                   [table_html(rows, ["model", "architecture", "lambda", "epochs", "best epoch",
                                      "val recon", "seconds"])])


def _figs(ctx, names_captions):
    return [(ctx.path("figures", f"{n}.png"), c) for n, c in names_captions]


def _recon_sections(ctx, recon):
    table = recon["weighted_mse"]
    rows = []
    for method, by_k in table.items():
        for k, by_class in by_k.items():
            rows.append([method, int(k)] + [by_class.get(c, {}).get("mean") for c in CLASSES])
    finding = "".join(f"<div class='finding'>{html.escape(s)}</div>" for s in recon["comparison"]["summary"])
    s3 = Section("Figure 3: reconstruction error against the number of parameters",
                 ["Mean over validation spectra and pixels of w (x' - x)^2 (the paper's metric), for every "
                  "method, all spectra and per class. Weighted PCA and NMF use the inverse-variance weights "
                  "(beyond the paper).", finding],
                 [table_html(rows, ["method", "parameters"] + list(CLASSES))],
                 _figs(ctx, [("fig03_reconstruction_error", "Figure 3: weighted MSE vs number of parameters"),
                             ("fig03b_reduced_chi2", "Median reduced chi^2 per spectrum")]))
    figs = [(f"fig{4 + i:02d}_{name}", f"Figure {4 + i}: {name.replace('_', ' ')}, PCA and VAE reconstructions")
            for i, name in enumerate(("high_sn_quiescent", "low_sn_quiescent", "extreme_emission", "broad_line_agn"))]
    s47 = Section("Figures 4 to 7: example reconstructions",
                  ["Zooms on Na D, H-alpha + [N II], [O II], H-beta + [O III] and [S II]: the data with its "
                   "1-sigma band, PCA and VAE reconstructions from the latent mean at 2, 4, 6 and 10 parameters."],
                  figures=_figs(ctx, figs))
    return [s3, s47]


def _latent_sections(ctx, lat):
    out = []
    evr = lat["explained_variance_ratio"]
    out.append(Section("Figure 8: the latent space", [
        f"PCA of the latent means of the training set defines the axes VAE 1..{lat['n_latent']}; "
        "explained variance: " + ", ".join(f"VAE {i + 1} {100 * v:.1f}%" for i, v in enumerate(evr))],
        figures=_figs(ctx, [("fig08_corner", "Figure 8: corner plot of the latent axes, coloured by class")])))
    track_figs = [("fig09_tracks", "Figure 9: the tracks on the VAE 1-VAE 2 and VAE 1-VAE 5 projections")]
    track_figs += [(f"fig{10 + i:02d}_track_{name}", f"Figure {10 + i}: decoded {name.replace('_', ' ')} track")
                   for i, name in enumerate(lat["tracks"])]
    rows = [[n, ", ".join(f"{p}: {c}" for p, c in zip(t["points"], t["counts"]))] for n, t in lat["tracks"].items()]
    out.append(Section("Figures 9 to 13: tracks", ["Spectra of chosen classes binned along a VAE axis; each "
                                                   "bin's latent centroid decoded."],
                       [table_html(rows, ["track", "spectra per point"])], _figs(ctx, track_figs)))
    out.append(Section("Figure 14: single-axis traversals", ["Each VAE axis moved through the centroid at "
                                                             "its 1st, 16th, 50th, 84th and 99th percentiles."],
                       figures=_figs(ctx, [("fig14_traversals", "Figure 14: traversals")])))
    o = lat["outliers"]
    tables = [table_html([[r["rank"], f"{r['plate']}-{r['mjd']}-{r['fiber']}", r["label"], r["oddity"], r["lof"]]
                          for r in o["top10"]], ["rank", "plate-mjd-fiber", "label", "oddity (truth)", "LOF"])]
    paras = [f"Local outlier factor (k = {LOF_K}) on the latent means of all spectra."]
    if "precision_lof" in o:
        rows = [[name] + [o[key][k] for k in ("precision_at_10", "precision_at_50", "precision_at_100", "roc_auc")]
                for name, key in (("LOF (latent)", "precision_lof"), ("reconstruction chi^2", "precision_chi2"))]
        tables.append(table_html(rows, ["score", "precision@10", "precision@50", "precision@100", "ROC AUC"]))
        paras.append(f"Labelled oddities of the synthetic survey: {o['precision_lof']['n_oddities']} "
                     f"(base rate {100 * o['precision_lof']['base_rate']:.2f}%).")
    out.append(Section("Table 2, Figures 15 and 16: outliers and stars", paras, tables,
                       _figs(ctx, [("fig15_outliers", "Figure 15: the top-10 outliers (bad pixels faded)"),
                                   ("fig16_stars", "Figure 16: stars projected into the latent space")])))
    n = lat["noise"]
    cross = ", ".join(f"latent {d}: S/N {v:.1f}" for d, v in n["crossing_sn"].items()) or "none"
    out.append(Section("Figure 17: sensitivity to noise", [
        f"The highest-S/N validation spectrum (median S/N {n['sn_median']:.1f}) with white noise at "
        f"{len(n['sn_levels'])} levels; constrained latent dimensions: {n['constrained_dims']}. S/N where the "
        f"variance of the latent means exceeds the reported variance: {cross}."],
        figures=_figs(ctx, [("fig17_noise", "Figure 17: variance ratio and bias vs S/N")])))
    sep = lat["separation"]
    rows = [[name, r["balanced_accuracy"], r["std"], sep["standardized"][name]["balanced_accuracy"]]
            for name, r in sep["raw"].items()]
    tables = [table_html(rows, ["space", "kNN balanced accuracy", "std", "standardized axes"])]
    tc = lat.get("truth_correlations")
    if tc:
        rho = np.asarray(tc["rho"], dtype=float)
        tables.append(table_html([[f"VAE {i + 1}"] + list(map(float, row)) for i, row in enumerate(rho)],
                                 ["axis"] + tc["params"], fmt="{:+.2f}"))
    out.append(Section("Class separation and the meaning of the axes", [
        "Cross-validated k-nearest-neighbour balanced accuracy of the four classes in the VAE latent space "
        "and in the PCA coefficient space of the same dimension; Spearman correlation of each VAE axis with "
        "the synthetic survey's true parameters."], tables,
        _figs(ctx, [("fig18_separation", "Class separation"), ("fig19_truth_correlations", "Axes vs truth")])))
    return out
