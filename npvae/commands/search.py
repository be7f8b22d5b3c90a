"""``npvae search``: the paper's random search over lambda, h1, h2 for one latent size.

Writes OUT/results.csv (sorted by validation reconstruction loss), OUT/best_model.npz and
OUT/search.json; running the same command again resumes. ``--halving`` runs the same
configurations with successive halving (npvae.train.halving; OUT/rung_K.csv per rung).
DATA as for ``npvae train``.
Docs: docs/training.md ("Random search").
"""
from ..runfolder import locked_folder
from ..train import search, search_halving
from .arguments import integer
from .train import add_data_arguments, read_training_data

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``search`` subcommand."""
    p = subparsers.add_parser("search", help="random hyper-parameter search for one latent size",
                              description="Random search (lambda log-uniform in [1, 1e5], h1 in "
                                          "[Z+1, 2000], h2 in [Z+1, h1]) in parallel worker processes.")
    add_data_arguments(p)
    p.add_argument("--latent", type=integer(1), default=6, help="latent dimension Z (default 6)")
    p.add_argument("--n-configs", type=integer(1), default=100, help="configurations (default 100)")
    p.add_argument("--workers", type=integer(0), default=None, help="worker processes (default: one per core; 0 = in process)")
    p.add_argument("--model", choices=("vae", "ae"), default="vae", help="InfoVAE or plain autoencoder")
    p.add_argument("--halving", action="store_true",
                   help="successive halving: all configurations for a few epochs, the best 1/eta go on")
    p.add_argument("--eta", type=integer(2), default=3, help="with --halving: keep the best 1/eta of each rung (default 3)")
    p.add_argument("--min-epochs", type=integer(1), default=None,
                   help="with --halving: epochs of the first rung (default: max epochs / eta^K)")
    p.add_argument("--keep-models", action="store_true", help="keep every configuration's model file")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)
    return p


def run(args):
    """Read the data, run or resume the search, print the best rows. Returns the exit code."""
    with locked_folder(args.out, "npvae search"):
        X, W, Xv, Wv = read_training_data(args.data, seed=args.seed, all_classes=args.all_classes)
        common = dict(n_latent=args.latent, out_dir=args.out, n_configs=args.n_configs, seed=args.seed,
                      n_workers=args.workers, model=args.model, batch_size=args.batch_size,
                      max_epochs=args.epochs, lr=args.lr, verbose=not args.quiet)
        if args.halving:
            rows = search_halving(X, W, Xv, Wv, eta=args.eta, min_epochs=args.min_epochs, **common)
        else:
            rows = search(X, W, Xv, Wv, keep_models=args.keep_models, **common)
    print(f"{len(rows)} configurations in {args.out}/results.csv; best:")
    for row in rows[:3]:
        print(f"  id {row['id']:3d}  lam {row['lam']:10.3f}  hidden {row['h1']}-{row['h2']}  "
              f"val recon {row['val_recon']:.5g}  (epoch {row['best_epoch']})")
    return 0
