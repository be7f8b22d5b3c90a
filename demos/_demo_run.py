"""Shared helper of the figure demos: find or make a run folder, load it, save a PNG.

A *run folder* is what ``npvae reproduce`` writes (docs/design.md): ``dataset.fits`` (or the
``--data`` file named in ``metrics.json``) and ``models/vae_zZ.npz`` / ``models/ae_zZ.npz``.
Every demo takes ``--run DIR`` to use a saved run; without it :func:`get_run` makes a small
one once and caches it under ``get_data_home()/demo_runs/``: the pipeline's own dataset stage
(``npvae.reproduce.pipeline.stage_dataset``, the same synthetic survey ``npvae reproduce``
makes) and the 6-latent InfoVAE with Table 1's architecture, trained for a few epochs. It
skips the reconstruction, latent and report stages, which the demos compute themselves, so
a demo from scratch takes about a minute on 2 cores. The folder layout is the pipeline's, so
``npvae reproduce --out`` on it later reuses what is there.

Shapes: N spectra, D pixels, Z latent dimensions.
"""
import argparse
import re
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from npvae import make_model  # noqa: E402
from npvae.explore.build import run_dataset_path  # noqa: E402
from npvae.paper import ANALYSIS_LATENT  # noqa: E402
from npvae.utils import NpvaeError, atomic_write, get_data_home  # noqa: E402

__all__ = ["DEFAULT_N", "DEFAULT_EPOCHS", "build_run", "get_run", "load_run", "demo_parser",
           "run_from_args", "save_png", "Run"]

DEFAULT_N = 8000          # spectra of the cached synthetic survey (as the quick preset)
DEFAULT_EPOCHS = 30       # epochs of the cached model (as the quick preset)


def _train_model(out, kind, n_latent, train, valid, epochs, seed, verbose):
    """Train models/{kind}_z{n_latent}.npz as the pipeline's models stage does (Table 1)."""
    path = Path(out) / "models" / f"{kind}_z{n_latent}.npz"
    if path.exists():
        return path
    model = make_model(kind, n_latent, seed=seed + n_latent)
    model.fit(train.flux, train.weight, valid.flux, valid.weight, max_epochs=epochs, verbose=verbose)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def build_run(out, n=DEFAULT_N, epochs=DEFAULT_EPOCHS, latents=(ANALYSIS_LATENT,), kinds=("vae",),
              seed=0, verbose=True):
    """Make (or complete) a small run folder: the synthetic survey and the models asked for.

    Parameters
    ----------
    out : path, the run folder (created; what exists is reused).
    n : int, spectra of the synthetic survey. epochs : int, training epochs per model.
    latents : latent sizes; kinds : subset of ("vae", "ae"). seed : survey and model seed.

    Returns
    -------
    Path of the run folder.
    """
    from npvae.reproduce.config import PRESETS
    from npvae.reproduce.pipeline import RunContext, stage_dataset

    config = dict(PRESETS["quick"], preset="quick", data=None, seed=int(seed), n_spectra=int(n),
                  latents=tuple(latents), max_epochs=int(epochs))
    ctx = RunContext(out, config, force=False, verbose=verbose)
    stage_dataset(ctx)
    run = load_run(ctx.out, need_model=False)
    for n_latent in latents:
        for kind in kinds:
            _train_model(ctx.out, kind, n_latent, run.train, run.valid, epochs, seed, verbose)
    return ctx.out


def get_run(run_dir=None, n=DEFAULT_N, epochs=DEFAULT_EPOCHS, kinds=("vae",), seed=0, verbose=True):
    """The run folder to use: ``run_dir`` if given, else a cached small run (made once)."""
    if run_dir is not None:
        path = Path(run_dir)
        if not path.is_dir():
            raise NpvaeError(f"--run {path}: no such folder (expected an `npvae reproduce` run)")
        return path
    cache = Path(get_data_home()) / "demo_runs" / f"synthetic_n{n}_e{epochs}_s{seed}"
    t0 = time.perf_counter()
    out = build_run(cache, n=n, epochs=epochs, kinds=kinds, seed=seed, verbose=verbose)
    if verbose:
        print(f"run folder {out} ready in {time.perf_counter() - t0:.1f} s")
    return out


class Run:
    """A loaded run: ``data`` (all spectra), ``train`` / ``valid`` (galaxies and quasars only,
    as the models were trained), ``wave`` (D,), and models by :meth:`model`."""

    def __init__(self, path, data):
        self.path, self.data, self.wave = Path(path), data, np.asarray(data.wave)
        self.train, self.valid = (data.subset(s).without_stars() for s in ("train", "valid"))

    def latent_setup(self):
        """What the latent-space demos start from: (vae, galaxy mask (N,), axes, mu (N_gal, Z), labels).

        The axes are the PCA of the training latent means (the paper's VAE 1..Z).
        """
        from npvae.analysis.axes import fit_latent_axes

        vae = self.model("vae")
        gal = ~self.data.is_star                                            # (N,)
        axes = fit_latent_axes(vae.transform(self.train.flux))
        return vae, gal, axes, vae.transform(self.data.flux[gal]), self.data.labels[gal]

    def latents(self, kind="vae"):
        """Latent sizes with a saved model of this kind, ascending."""
        found = [re.fullmatch(rf"{kind}_z(\d+)\.npz", p.name) for p in (self.path / "models").glob("*.npz")]
        return sorted(int(m.group(1)) for m in found if m)

    def model(self, kind="vae", n_latent=None):
        """Load models/{kind}_z{n_latent}.npz; default the 6-latent one, else the largest."""
        import npvae

        sizes = self.latents(kind)
        if not sizes:
            raise NpvaeError(f"{self.path / 'models'}: no {kind}_zZ.npz model")
        if n_latent is None:
            n_latent = ANALYSIS_LATENT if ANALYSIS_LATENT in sizes else max(sizes)
        return npvae.load(self.path / "models" / f"{kind}_z{n_latent}.npz")


def load_run(run_dir, need_model=True):
    """Load the dataset of a run folder (and check it has a VAE model)."""
    from npvae.data.dataset import load_dataset

    run_dir = Path(run_dir)
    run = Run(run_dir, load_dataset(run_dataset_path(run_dir)))
    if need_model and not run.latents("vae"):
        raise NpvaeError(f"{run_dir / 'models'}: no vae_zZ.npz model; run `npvae reproduce --out {run_dir}`")
    return run


def demo_parser(doc):
    """argparse with the options every demo shares: --run, --out, --n, --epochs, --seed."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=None, help="a saved `npvae reproduce` run folder "
                        "(default: a small cached synthetic run, made on first use)")
    parser.add_argument("--out", default=".", help="folder for the PNG (default: current folder)")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="spectra of the cached run")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs of the cached run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run and the analysis")
    return parser


def run_from_args(args, kinds=("vae",)):
    """Load the run named by --run, or make / reuse the cached one."""
    return load_run(get_run(args.run, n=args.n, epochs=args.epochs, kinds=kinds, seed=args.seed))


def save_png(fig, out_dir, name, dpi=110):
    """Write ``fig`` to out_dir/name.png (atomically), close it, print and return the path."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    print(f"wrote {path}")
    return path
