"""The ``npvae reproduce`` pipeline: dataset -> models -> reconstruction -> latent space
-> beyond the paper -> report.

Each stage writes its outputs into the run folder and is skipped when they exist (unless
``force``), so an interrupted run resumes where it stopped; a model interrupted mid-training
resumes from its checkpoint. The presets (``quick``, ``full``) are in
:mod:`npvae.reproduce.config`; their measured times in benchmarks/README.md.

Folder layout: ``dataset.fits`` (synthetic only), ``models/``, ``figures/``, ``results/``
(JSON per stage), ``metrics.json``, ``report.html``, ``explorer.html`` (the interactive
latent-space explorer), ``reproduce.log``.
"""
import json
import logging
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..data.dataset import load_dataset
from ..synthetic import make_dataset
from ..utils import NpvaeError, atomic_write
from . import stages_beyond, stages_latent, stages_recon
from .config import PRESETS
from .report_build import build_report

__all__ = ["reproduce", "PRESETS", "RunContext"]

log = logging.getLogger("npvae.reproduce")


class RunContext:
    """The run folder, the configuration, the dataset and the results gathered so far."""

    def __init__(self, out, config, force, verbose):
        self.out = Path(out)
        self.config, self.force, self.verbose = config, force, verbose
        for sub in ("models", "figures", "results"):
            (self.out / sub).mkdir(parents=True, exist_ok=True)
        self.data = None
        self.timings = {}

    def path(self, *parts):
        return self.out.joinpath(*parts)

    def done(self, *paths):
        """True when every output exists and the run does not force recomputation."""
        return not self.force and all(self.path(p).exists() for p in paths)

    def save_json(self, name, obj):
        with atomic_write(self.path("results", name)) as tmp:
            Path(tmp).write_text(json.dumps(obj, indent=1, default=_json_default))

    def load_json(self, name):
        return json.loads(self.path("results", name).read_text())

    def figure(self, fig, name):
        """Save a matplotlib figure as figures/NAME.png and close it; returns the path."""
        path = self.path("figures", f"{name}.png")
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _setup_logging(ctx):
    handler = logging.FileHandler(ctx.path("reproduce.log"))
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.handlers = [handler]
    if ctx.verbose:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("[npvae reproduce] %(message)s"))
        log.addHandler(console)
    log.setLevel(logging.INFO)
    log.propagate = False


def stage_dataset(ctx):
    """Load the dataset file given, or make the synthetic survey (dataset.fits)."""
    cfg = ctx.config
    if cfg["data"] is not None:
        path = Path(cfg["data"])
        if not path.exists():
            raise NpvaeError(f"--data {path}: no such file")
        ctx.data = load_dataset(path)
        log.info("dataset %s: %d spectra", path, len(ctx.data))
        return
    path = ctx.path("dataset.fits")
    if ctx.done("dataset.fits"):
        log.info("dataset: reusing %s", path)
    else:
        log.info("dataset: generating a synthetic survey of %d spectra (seed %d)", cfg["n_spectra"], cfg["seed"])
        make_dataset(cfg["n_spectra"], rng=cfg["seed"], path=path, verbose=ctx.verbose)
    ctx.data = load_dataset(path)
    log.info("dataset: %d spectra, %d train, %d valid", len(ctx.data), int(np.sum(ctx.data.split == "train")),
             int(np.sum(ctx.data.split == "valid")))


def reproduce(out="npvae_reproduce", data=None, preset="quick", force=False, verbose=True, seed=0,
              latents=None, max_epochs=None, n_spectra=None, **overrides):
    """Run the whole pipeline and write ``out/report.html``; returns the metrics dict.

    Parameters
    ----------
    out : path
        Run folder (created; reused on a second call: finished stages are skipped).
    data : path, optional
        A dataset FITS file (``npvae preprocess`` / ``npvae synth``); default: a synthetic survey.
    preset : {"quick", "full"}
    force : bool
        Recompute every stage.
    seed : int
        Seeds the survey, the models and the analyses.
    latents, max_epochs, n_spectra : optional
        Override the preset.
    **overrides
        Any other preset entry (``noise_draws``, ``baseline_iter``, ``search_configs``: with
        N > 0, a random search of N configurations per latent size picks the architecture
        and lambda instead of Table 1, as the paper did with N = 100).
    """
    if preset not in PRESETS:
        raise NpvaeError(f"preset must be one of {sorted(PRESETS)}, not {preset!r}")
    config = dict(PRESETS[preset], preset=preset, data=None if data is None else str(data), seed=int(seed))
    for key, value in (("latents", latents), ("max_epochs", max_epochs), ("n_spectra", n_spectra)):
        if value is not None:
            config[key] = tuple(value) if key == "latents" else int(value)
    for key, value in overrides.items():
        if key not in PRESETS[preset]:
            raise NpvaeError(f"unknown reproduce option {key!r}; known: {sorted(PRESETS[preset])}")
        config[key] = value
    ctx = RunContext(out, config, force, verbose)
    _setup_logging(ctx)
    # rough: the preset's measured or estimated time, plus the search on two worker processes
    minutes = config["est_minutes"] + config["search_configs"] * config["minutes_per_config"] * len(
        config["latents"]) / 2
    log.info("npvae reproduce (%s) into %s; expected time about %d minutes on 2 cores%s",
             preset, ctx.out, minutes, " (most of it the random search)" if config["search_configs"] else "")
    stages = [("dataset", stage_dataset), ("models", stages_recon.stage_models),
              ("reconstruction", stages_recon.stage_reconstruction), ("latent", stages_latent.stage_latent),
              ("explorer", stages_latent.stage_explorer), ("beyond", stages_beyond.stage_beyond),
              ("report", build_report)]
    for name, stage in stages:
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        stage(ctx)
        ctx.timings[name] = time.perf_counter() - t0
        log.info("stage %s done in %.1f s", name, ctx.timings[name])
    return json.loads(ctx.path("metrics.json").read_text())

