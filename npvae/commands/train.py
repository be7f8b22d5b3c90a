"""``npvae train``: train one InfoVAE (or autoencoder) from a data file, with checkpoints.

Writes OUT/model.npz, OUT/history.csv, OUT/loss_curve.png and keeps OUT/checkpoint.npz for
``--resume``. OUT is locked while the run lasts; a folder that already holds a run is refused
unless ``--resume`` or ``--on-exists overwrite`` says what to do (docs/files.md). A run that
diverges stops at once with a one-line message; it keeps the checkpoint of its last good epoch
and writes its best finite epoch to OUT/best_finite_model.npz, never OUT/model.npz.
DATA is a dataset FITS file (docs/design.md, "Dataset file": its SPLIT column picks
the validation rows), a sharded dataset folder (trained streaming: never read whole, each batch
gathered from the memory-mapped shards; docs/scale.md) or an .npz with ``flux`` and ``weight``
(N, D) arrays and optionally ``split`` (N,) of "train" / "valid"; without it a seeded random
25% is held out.
Docs: docs/training.md. Shapes: N spectra, D pixels.
"""
import csv
import sys
import zipfile
from pathlib import Path

import numpy as np

from matplotlib.figure import Figure

from .. import paper
from ..data.dataset import load_dataset, load_training_rows, training_class_rows
from ..data.recipe import preprocessing_for_data_file
from ..data.shards import ShardedArray, row_chunks
from ..runfolder import existing_run_policy, locked_folder
from ..train import TrainingDiverged, TrainingInterrupted, best_record, make_model
from ..train.guards import training_memory_bytes
from ..utils import NpvaeError, atomic_write, available_memory
from .arguments import integer, on_exists_argument, real

__all__ = ["register", "run", "read_training_data", "write_history_csv", "plot_loss_curve", "check_memory"]

VAL_FRACTION = 0.25     # held out when an .npz has no split
OUTPUTS = ("model.npz", "history.csv", "loss_curve.png", "best_finite_model.npz")   # of a run


def register(subparsers):
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser("train", help="train an InfoVAE on a data file",
                              description="Train an InfoVAE (Portillo et al. 2020 recipe) with "
                                          "checkpoints, resume and early stopping.")
    add_data_arguments(p)
    p.add_argument("--latent", type=integer(1), default=6, help="latent dimension Z (default 6)")
    p.add_argument("--hidden", type=integer(1), nargs="+", default=None,
                   help="encoder widths (default: Table 1 for the latent size; 703 94 for 6)")
    p.add_argument("--lam", type=real(minimum=0), default=None,
                   help="InfoVAE lambda >= 0 (default: Table 1; 3.02 for 6)")
    p.add_argument("--alpha", type=real(0, 1), default=0.0, help="InfoVAE alpha in [0, 1] (default 0)")
    p.add_argument("--model", choices=("vae", "ae"), default="vae", help="InfoVAE or plain autoencoder")
    p.add_argument("--noise-aware", action="store_true",
                   help="the encoder also reads the pixel noise and trains on spectra degraded by known "
                        "extra noise, so its latent variance follows the S/N (InfoVAE only; docs/noise_aware.md)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default OUT/checkpoint.npz)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint (same as --on-exists resume; without a "
                        "checkpoint yet, start fresh)")
    on_exists_argument(p)
    p.set_defaults(func=run)
    return p


def add_data_arguments(p):
    """Options shared by ``train`` and ``search``: data, optimisation, seed, verbosity."""
    p.add_argument("--data", required=True, help="dataset FITS file, sharded dataset folder, or .npz with flux "
                                                 "and weight")
    p.add_argument("--epochs", type=integer(1), default=200, help="maximum epochs (default 200)")
    p.add_argument("--batch-size", type=integer(1), default=64, help="minibatch size (default 64)")
    p.add_argument("--lr", type=real(above=0), default=1e-3, help="initial Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=integer(0), default=0, help="seed of weights, noise and split (default 0)")
    p.add_argument("--all-classes", action="store_true",
                   help="use every row of a dataset file (default: CLASS GALAXY and QSO only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    """Lock OUT, load data, train, write model, history and loss curve. Returns the exit code."""
    out = Path(args.out)
    ckpt = Path(args.checkpoint) if args.checkpoint else out / "checkpoint.npz"
    outputs = [out / name for name in OUTPUTS]
    if args.noise_aware and args.model != "vae":
        raise NpvaeError("--noise-aware is an option of the InfoVAE (--model vae), not of the autoencoder")
    with locked_folder(out, "npvae train"):
        start = existing_run_policy("resume" if args.resume else args.on_exists, outputs, ckpt, out)
        X, W, Xv, Wv = read_training_data(args.data, seed=args.seed, all_classes=args.all_classes, lazy=True)
        hidden = args.hidden or paper.architecture(args.latent)[0]
        check_memory(X.shape[1], hidden, args.latent, args.batch_size, len(X), len(Xv))
        extra = {"noise_aware": True} if args.noise_aware else {}
        model = make_model(args.model, args.latent, n_features=X.shape[1], hidden=hidden, lam=args.lam,
                           alpha=args.alpha, seed=args.seed, **extra)
        if start == "fresh":
            for path in outputs + [ckpt]:
                path.unlink(missing_ok=True)          # --on-exists overwrite: the old run goes now
        try:
            model.fit(X, W, Xv, Wv, batch_size=args.batch_size, max_epochs=args.epochs, lr=args.lr,
                      verbose=not args.quiet, checkpoint=ckpt, resume=start == "resume")
        except TrainingInterrupted:
            print("npvae train: to resume, run the same command with --resume", file=sys.stderr)
            return 130
        except TrainingDiverged as err:
            raise NpvaeError(f"{err}; {_keep_diverged(model, out, ckpt, err)}") from err
        model.preprocessing = preprocessing_for_data_file(args.data, X)   # None for an .npz
        model.save(out / "model.npz")
        write_history_csv(model.history_, out / "history.csv")
        plot_loss_curve(model.history_, out / "loss_curve.png")
    print(f"wrote {out / 'model.npz'}, {out / 'history.csv'}, {out / 'loss_curve.png'}")
    return 0


def _keep_diverged(model, out, ckpt, err):
    """After a divergence: save the best finite epoch and the history; say what was kept."""
    kept = [f"the checkpoint {ckpt} holds the last good epoch"] if ckpt.exists() else []
    if err.best_epoch:
        model.save(out / "best_finite_model.npz")
        write_history_csv(model.history_, out / "history.csv")
        kept.append(f"best finite epoch {err.best_epoch} saved to {out / 'best_finite_model.npz'}")
    if not kept:
        return "nothing was saved"
    return "; ".join(kept) + "; no model.npz was written; to retry with other settings add --on-exists overwrite"


def check_memory(n_features, hidden, n_latent, batch_size, n_train, n_val, itemsize=4):
    """NpvaeError if training this model would need more memory than this machine has free."""
    need = training_memory_bytes(n_features, hidden, n_latent, batch_size, n_train, n_val, itemsize)
    have = available_memory()
    if have is not None and need > have:
        raise NpvaeError(f"this run needs about {need / 2**30:.1f} GiB of memory (--batch-size {batch_size}, "
                         f"--hidden {' '.join(map(str, hidden))}, --latent {n_latent}) but only "
                         f"{have / 2**30:.1f} GiB are available; use a smaller --batch-size or --hidden")


def read_training_data(path, seed=0, all_classes=False, lazy=False):
    """Training and validation arrays from a dataset FITS file, a sharded dataset folder or an .npz.

    Of a dataset only the GALAXY and QSO rows are used unless ``all_classes``; an .npz has no
    classes and is taken as it is. With ``lazy`` a sharded folder is not read into memory: the
    four arrays are lazy row selections of its memory-mapped shards
    (:meth:`npvae.data.shards.ShardedArray.select`), checked chunk by chunk, for streaming training.

    Returns
    -------
    X, W : ndarray (N, D) float32
    X_val, W_val : ndarray (V, D) float32
        Or ShardedArray (N, D) and (V, D) with ``lazy`` and a folder.
    """
    path = Path(path)
    if not path.exists():
        raise NpvaeError(f"{path}: no such data file")
    if lazy and path.is_dir():
        flux, weight, split = _open_shards(path, all_classes)
    elif path.is_dir() or path.suffix.lower() in (".fits", ".fit") or path.name.lower().endswith(".fits.gz"):
        flux, weight, split = _read_fits(path, all_classes)
    else:
        flux, weight, split = _read_npz(path)
    _check_arrays(path, flux, weight)
    if split is not None and np.shape(split) != (len(flux),):
        raise NpvaeError(f"{path}: split has shape {np.shape(split)}, expected ({len(flux)},): one "
                         f"'train' or 'valid' per spectrum")
    if split is None:
        rows = np.random.default_rng(seed).permutation(len(flux))
        is_val = np.zeros(len(flux), bool)
        is_val[rows[: int(round(VAL_FRACTION * len(flux)))]] = True
    else:
        split = np.char.strip(np.asarray(split, dtype=str))
        bad = np.flatnonzero((split != "train") & (split != "valid"))
        if bad.size:
            raise NpvaeError(f"{path}: split row {bad[0]} is {split[bad[0]]!r}, not 'train' or 'valid'")
        is_val = split == "valid"
    if is_val.all() or not is_val.any():
        raise NpvaeError(f"{path}: need both training and validation rows, got {int((~is_val).sum())} "
                         f"and {int(is_val.sum())}")
    return _rows(flux, ~is_val), _rows(weight, ~is_val), _rows(flux, is_val), _rows(weight, is_val)


def _rows(A, keep):
    """Rows ``keep`` (N,) bool of A: a lazy selection of lazy rows, else a float32 array."""
    if isinstance(A, ShardedArray):
        return A.select(keep)
    return np.ascontiguousarray(A[keep], dtype=np.float32)


def _read_fits(path, all_classes):
    ds = load_training_rows(path, all_classes)
    return np.asarray(ds.flux), np.asarray(ds.weight), ds.split


def _open_shards(path, all_classes):
    """Lazy flux and weight rows (ShardedArray) of the training classes of a sharded folder, and their split."""
    ds = load_dataset(path, columns=("CLASS", "SPLIT"))       # shards: nothing read; of the catalogue two columns
    keep = np.flatnonzero(training_class_rows(ds, all_classes))
    return ds.flux.select(keep), ds.weight.select(keep), ds.split[keep]


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("flux", "weight") if k not in data.files]
            if missing:
                raise NpvaeError(f"{path}: missing array(s) {missing}; an .npz needs 'flux' and 'weight'")
            split = data["split"] if "split" in data.files else None
            return data["flux"], data["weight"], split
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        if isinstance(err, NpvaeError):
            raise
        raise NpvaeError(f"{path}: not a readable .npz or FITS data file ({err})") from err


def _check_arrays(path, flux, weight):
    """Numbers, shapes agree, 2-D, finite flux, finite non-negative weights; else NpvaeError with the row."""
    for name, array in (("flux", flux), ("weight", weight)):
        if array.dtype.kind not in "fiu":
            raise NpvaeError(f"{path}: {name} holds {array.dtype} values, not real numbers")
    if flux.ndim != 2 or flux.shape != weight.shape:
        raise NpvaeError(f"{path}: flux {flux.shape} and weight {weight.shape} must be the same (N, D)")
    for start, rows in row_chunks(flux):                      # in memory: one piece; lazy: chunks
        bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
        if bad.size:
            count = f" ({bad.size} rows in all)" if rows is flux else ""
            raise NpvaeError(f"{path}: flux row {start + bad[0]} has non-finite values{count}")
    for start, rows in row_chunks(weight):
        bad = np.flatnonzero(~(np.isfinite(rows) & (rows >= 0)).all(axis=1))
        if bad.size:
            raise NpvaeError(f"{path}: weight row {start + bad[0]} has negative or non-finite values")


def write_history_csv(history, path):
    """One row per epoch, columns in first-seen order (atomic)."""
    columns = list(dict.fromkeys(key for rec in history for key in rec))
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(history)


def plot_loss_curve(history, path):
    """Train and validation objective and reconstruction per epoch, best epoch marked (atomic PNG)."""
    epochs = [rec["epoch"] for rec in history]
    best_epoch = best_record(history).get("epoch")
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    for ax, term in zip(fig.subplots(1, 2), ("total", "recon")):
        for split, style in (("train", "-"), ("val", "--")):
            values = [rec.get(f"{split}_{term}", np.nan) for rec in history]
            ax.plot(epochs, values, style, label=split)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.6", lw=0.8, label="best")
            if np.nanmin([rec.get(f"train_{term}", np.nan) for rec in history]) > 0:
                ax.set_yscale("log")
        ax.set(xlabel="epoch", ylabel=term)
        ax.legend()
    with atomic_write(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
