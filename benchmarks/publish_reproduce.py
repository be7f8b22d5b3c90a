#!/usr/bin/env python3
"""Publish an ``npvae reproduce`` run folder into the repository: docs/results/<name>/.

Copies the run's ``metrics.json``, ``reproduce.log``, ``results/*.json`` and ``figures/*.png``
(not the models or the dataset: too large for git) and writes a ``README.md`` generated from
``metrics.json``: the stage timings, the models (epochs, best epoch, seconds), the "paper vs
npvae" table, the beyond-the-paper tables, and Figure 3's numbers per method, size and class. With ``--beside RUN`` a second
run (the quick preset) is laid beside it in every table. ``--notes FILE`` inserts a hand-written
Markdown section (the explanation of the departures) after the claims table.

    python benchmarks/publish_reproduce.py /path/to/full_run --name full \\
        --beside /path/to/quick_run --notes docs/results/full_notes.md
"""
import argparse
import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("VAE", "AE", "NMF", "WeightedNMF", "PCA", "WeightedPCA")


def load(run):
    return json.loads((Path(run) / "metrics.json").read_text())


def head_commit():
    """The repository's HEAD (pass --commit when the run was made from another one)."""
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def timings_section(metrics, beside):
    names = list(metrics["timings_s"])
    rows = [[n, f"{metrics['timings_s'][n] / 60:.1f}"] + ([f"{beside['timings_s'].get(n, float('nan')) / 60:.1f}"]
                                                          if beside else []) for n in names]
    total = sum(metrics["timings_s"].values()) / 60
    rows.append(["**total**", f"**{total:.1f}**"] + ([f"**{sum(beside['timings_s'].values()) / 60:.1f}**"]
                                                    if beside else []))
    header = ["stage", "minutes"] + (["quick preset, minutes"] if beside else [])
    return total, table(header, rows)


def models_section(metrics):
    rows = []
    for name, m in metrics["models"].items():
        cfg = m["config"]
        arch = "-".join(map(str, [cfg["n_features"], *cfg["hidden"], cfg["n_latent"]]))
        rows.append([name, arch, m["epochs"], m["best_epoch"], f"{m['val_recon']:.1f}", f"{m['seconds'] / 60:.1f}"])
    return table(["model", "architecture", "epochs", "best epoch", "validation recon. loss", "minutes"], rows)


def claims_section(metrics, beside):
    other = {r["claim"]: r for r in beside["paper_vs_npvae"]} if beside else {}
    rows = []
    for r in metrics["paper_vs_npvae"]:
        row = [r["claim"], r["paper"], r["npvae"], f"**{r['verdict']}**"]
        if beside:
            q = other.get(r["claim"], {})
            row += [q.get("npvae", "-"), q.get("verdict", "-")]
        rows.append(row)
    header = ["the paper says", "paper", "npvae (this run)", "verdict"] + (["quick preset", "verdict"] if beside
                                                                           else [])
    counts = {v: sum(r["verdict"] == v for r in metrics["paper_vs_npvae"])
              for v in ("reproduced", "not reproduced", "not computed")}
    return counts, table(header, rows)


def fig3_section(metrics, beside):
    mse = metrics["reconstruction"]["weighted_mse"]
    sizes = sorted(mse["VAE"], key=int)
    classes = list(mse["VAE"][sizes[0]])
    rows = []
    for cls in classes:
        for method in METHODS:
            if method not in mse:
                continue
            cells = []
            for k in sizes:
                value = mse[method][k][cls]["mean"]
                cell = f"{value:.3g}"
                if beside and method in beside["reconstruction"]["weighted_mse"]:
                    cell += f" ({beside['reconstruction']['weighted_mse'][method][k][cls]['mean']:.3g})"
                cells.append(cell)
            rows.append([cls, method] + cells)
    return table(["class", "method"] + [f"{k} parameters" for k in sizes], rows)


def beyond_section(metrics):
    """The beyond-the-paper stage's two tables (noise-aware Fig. 17, redshifts), or a line saying it did not run."""
    beyond = metrics.get("beyond")
    if not beyond:
        return "The run has no beyond-the-paper stage (made before it existed)."
    noise, z = beyond["noise"], beyond["redshift"]
    t = noise["training"]
    ratios = zip(noise["sn_levels"], noise["standard"]["geomean_ratio"], noise["noise_aware"]["geomean_ratio"])
    rows = [[f"{s:g}", f"{a:.3g}", f"{b:.3g}"] for s, a, b in ratios]
    text = (f"Noise-aware encoder ({beyond['n_latent']} latents, {t['n_train']:,} training spectra, {t['epochs']} "
            f"epochs, {t['seconds'] / 60:.1f} minutes): Fig. 17 on the same spectrum, geometric mean over the "
            f"latents of Var(latent means) / mean reported variance ({noise['n_draws']} draws per level).\n\n")
    text += table(["S/N of added noise", "standard encoder", "noise-aware encoder"], rows)
    methods = z["methods"]
    names = list(methods)
    zrows = [[r["subset"], r["n"]] + [f"{methods[m]['rows'][i][key]:.3g}" for m in names for key in ("nmad",
                                                                                                     "catastrophic")]
             for i, r in enumerate(methods[names[0]]["rows"])]
    text += (f"\n\nRedshifts of {z['n_spectra']} new synthetic observed-frame spectra, the VAE scan vs PCA templates "
             f"of the training set: NMAD of dz / (1 + z) and the catastrophic fraction (|dz| / (1 + z) > 0.01).\n\n")
    text += table(["subset", "n"] + [f"{m.upper()} {key}" for m in names for key in ("NMAD", "catastrophic")], zrows)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="the run folder (npvae reproduce --out)")
    ap.add_argument("--name", default="full", help="docs/results/NAME/")
    ap.add_argument("--beside", type=Path, default=None, help="a second run folder laid beside (quick preset)")
    ap.add_argument("--notes", type=Path, default=None, help="Markdown inserted after the claims table")
    ap.add_argument("--commit", default=None, help="the commit the run was made with (default: HEAD)")
    args = ap.parse_args()
    metrics = load(args.run)
    beside = load(args.beside) if args.beside else None
    out = ROOT / "docs" / "results" / args.name
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    for name in ("metrics.json", "reproduce.log"):
        shutil.copy2(args.run / name, out / name)
    for png in sorted((args.run / "figures").glob("*.png")):
        shutil.copy2(png, out / "figures" / png.name)
    for res in sorted((args.run / "results").glob("*.json")):
        shutil.copy2(res, out / "results" / res.name)
    cfg = metrics["config"]
    total, timing_table = timings_section(metrics, beside)
    counts, claims_table = claims_section(metrics, beside)
    figures = "\n".join(f"- [{p.stem}](figures/{p.name})" for p in sorted((out / "figures").glob("*.png")))
    notes = args.notes.read_text() if args.notes else ""
    scale = "at the paper's scale" if cfg["preset"] == "full" else "quick preset"
    text = f"""# npvae reproduce --{cfg['preset']}: Portillo et al. 2020, {scale}

Generated by `benchmarks/publish_reproduce.py` from `metrics.json` of one run of
`npvae reproduce --{cfg['preset']}` ({cfg['n_spectra']:,} synthetic spectra, latent sizes
{', '.join(map(str, cfg['latents']))}, at most {cfg['max_epochs']} epochs, seed {cfg['seed']}), made with npvae
{metrics['versions']['npvae']} at commit {args.commit or head_commit()} on {metrics['versions']['platform']}
(2 cores). Wall time **{total:.1f} minutes**; `reproduce.log` has every stage's timing.
{"The numbers in brackets and the last columns are the quick preset's (`npvae reproduce --quick`)." if beside else ""}

## Paper vs npvae

{counts['reproduced']} reproduced, {counts['not reproduced']} not reproduced, {counts['not computed']} not computed.

{claims_table}

{notes}

## Beyond the paper

{beyond_section(metrics)}

## Figure 3: mean weighted squared error on the validation set

{fig3_section(metrics, beside)}

## Models

{models_section(metrics)}

## Stage timings

{timing_table}

## Figures

{figures}
"""
    (out / "README.md").write_text(text)
    print(f"wrote {out / 'README.md'}")


if __name__ == "__main__":
    main()
