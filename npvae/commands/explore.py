"""``npvae explore``: the interactive latent-space explorer, one self-contained HTML file.

``npvae explore RUN_DIR`` uses an ``npvae reproduce`` run folder (its 6-latent VAE and its
dataset); ``npvae explore MODEL.npz --data DATASET.fits`` a trained model and a dataset file.
Doc: docs/explorer.md.
"""
from pathlib import Path

from ..data.dataset import load_dataset
from ..explore import resolve_source, write_explorer
from ..explore.gather import MAX_SPECTRA
from ..train import load
from ..utils import NpvaeError

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``explore`` subcommand."""
    p = subparsers.add_parser("explore", help="write an interactive latent-space explorer (HTML)",
                              description="Encode a dataset with a trained model and write one "
                                          "self-contained HTML page: the latent means on the axes "
                                          "VAE 1..Z, the spectra, and the decoder running in the page.")
    p.add_argument("source", metavar="RUN_DIR_OR_MODEL",
                   help="an `npvae reproduce` run folder, or a model file (.npz) with --data")
    p.add_argument("--data", default=None, help="dataset FITS file (default: the run folder's)")
    p.add_argument("--out", default="explorer.html", help="HTML file to write (default: %(default)s)")
    p.add_argument("--latent", type=int, default=None,
                   help="latent size of the run's VAE (default: 6 if present, else the largest)")
    p.add_argument("--max-spectra", type=int, default=MAX_SPECTRA,
                   help="spectra embedded in the page; the others show their reconstruction only "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample of embedded spectra")
    p.set_defaults(func=run)
    return p


def run(args):
    """Check the arguments, then gather and write the page. Returns the exit code."""
    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise NpvaeError(f"--out {out}: the explorer is an HTML file; name it *.html")
    if not out.parent.is_dir():
        raise NpvaeError(f"--out {out}: folder {out.parent} does not exist")
    if args.max_spectra < 0:
        raise NpvaeError(f"--max-spectra must be >= 0, got {args.max_spectra}")
    model_path, data_path = resolve_source(args.source, args.data, args.latent)
    if not data_path.exists():
        raise NpvaeError(f"--data {data_path}: no such file")
    model, dataset = load(model_path), load_dataset(data_path)
    write_explorer(out, model, dataset, max_spectra=args.max_spectra, seed=args.seed)
    print(f"explorer: {out} ({len(dataset)} spectra, model {model_path})")
    return 0
