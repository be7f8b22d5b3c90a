"""``npvae explore`` as a function: a run folder or a model file + dataset -> explorer.html.

A run folder is what ``npvae reproduce`` writes: ``models/vae_zZ.npz`` (the 6-latent model by
default, else the largest) and ``dataset.fits``, or the ``--data`` file recorded in its
``metrics.json``. Doc: docs/explorer.md.
"""
import json
import re
from pathlib import Path

from ..data.dataset import load_dataset
from ..paper import ANALYSIS_LATENT
from ..train import load
from ..utils import NpvaeError
from .gather import MAX_SPECTRA, gather
from .page import DENSITY_THRESHOLD, write_page

__all__ = ["write_explorer", "resolve_source", "run_model_path", "run_dataset_path"]


def run_model_path(run_dir, n_latent=None):
    """models/vae_zZ.npz of a run folder: Z = ``n_latent``, else 6 if present, else the largest."""
    found = {int(m.group(1)): p for p in (Path(run_dir) / "models").glob("vae_z*.npz")
             if (m := re.fullmatch(r"vae_z(\d+)\.npz", p.name))}
    if not found:
        raise NpvaeError(f"{run_dir}: no models/vae_zZ.npz in this run folder")
    if n_latent is None:
        n_latent = ANALYSIS_LATENT if ANALYSIS_LATENT in found else max(found)
    if n_latent not in found:
        raise NpvaeError(f"{run_dir}: no models/vae_z{n_latent}.npz (found latent sizes {sorted(found)})")
    return found[n_latent]


def run_dataset_path(run_dir):
    """dataset.fits of a run folder, or the --data file named in its metrics.json."""
    run_dir = Path(run_dir)
    if (run_dir / "dataset.fits").exists():
        return run_dir / "dataset.fits"
    metrics = run_dir / "metrics.json"
    data = json.loads(metrics.read_text()).get("config", {}).get("data") if metrics.exists() else None
    if data and Path(data).exists():
        return Path(data)
    raise NpvaeError(f"{run_dir}: no dataset.fits and no existing data file in metrics.json; pass --data")


def resolve_source(source, data=None, n_latent=None):
    """(model path, dataset path) from a run folder or a model file (which needs ``data``)."""
    source = Path(source)
    if source.is_dir():
        return run_model_path(source, n_latent), Path(data) if data else run_dataset_path(source)
    if not source.exists():
        raise NpvaeError(f"{source}: no such run folder or model file")
    if data is None:
        raise NpvaeError(f"{source} is a model file: give the spectra with --data DATASET")
    return source, Path(data)


def write_explorer(out, model, dataset, max_spectra=MAX_SPECTRA, seed=0, title=None,
                   density_threshold=DENSITY_THRESHOLD):
    """Gather the data of ``dataset`` through ``model`` and write the page to ``out``; returns ``out``.

    Parameters
    ----------
    out : path of the HTML file (written atomically).
    model : a trained InfoVAE or Autoencoder; dataset : npvae.data.dataset.Dataset, or a path.
    max_spectra : int, spectra embedded in the page (the others show their reconstruction only).
    seed : int, chooses the random sample of embedded spectra.
    title : str, the page title (default names the model and the number of spectra).
    density_threshold : int, above this many points the scatter is a binned density view.
    """
    if isinstance(dataset, (str, Path)):
        dataset = load_dataset(dataset)
    if isinstance(model, (str, Path)):
        model = load(model)
    data = gather(model, dataset, max_spectra=max_spectra, rng=seed)
    title = title or (f"npvae latent-space explorer: {len(data)} spectra, {model.n_latent}-latent "
                      f"{type(model).__name__}")
    return write_page(out, data, model, title=title, density_threshold=density_threshold)
