"""``npvae reproduce``: the paper's results in one command (see npvae/reproduce/pipeline.py)."""
from ..paper import LOF_K
from ..reproduce import reproduce
from ..runfolder import locked_folder
from .arguments import integer

# the outlier search needs LOF_K + 1 spectra; 4x that leaves room for the preprocessing cuts and
# the train/validation split (tried: --n 84 --latents 2 --epochs 1 runs through)
MIN_SPECTRA = 4 * (LOF_K + 1)

__all__ = ["register", "run"]


def register(subparsers):
    p = subparsers.add_parser("reproduce", help="train the paper's models and write report.html",
                              description="Reproduce Portillo et al. 2020 on a dataset file or, by "
                                          "default, on a synthetic SDSS-like survey.")
    p.add_argument("--data", default=None, help="dataset FITS file (default: generate a synthetic survey)")
    p.add_argument("--out", default="npvae_reproduce", help="run folder (default: %(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="preset", action="store_const", const="quick",
                      help="about 10 minutes on 2 cores (default)")
    mode.add_argument("--full", dest="preset", action="store_const", const="full", help="the paper's scale")
    p.add_argument("--force", action="store_true", help="recompute stages whose outputs exist")
    p.add_argument("--seed", type=integer(0), default=0)
    p.add_argument("--latents", type=integer(1), nargs="+", default=None, help="override the latent sizes")
    p.add_argument("--epochs", type=integer(1), default=None, help="override the maximum number of epochs")
    p.add_argument("--n", type=integer(MIN_SPECTRA), default=None,
                   help=f"override the synthetic survey size (at least {MIN_SPECTRA}: the outlier "
                        f"search looks at the {LOF_K} nearest neighbours)")
    p.add_argument("--search", type=integer(0), default=0, metavar="N",
                   help="random search of N configurations per latent size instead of Table 1 "
                        "(the paper used 100)")
    p.add_argument("--halving", action="store_true", help="run the --search with successive halving")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run, preset="quick")


def run(args):
    with locked_folder(args.out, "npvae reproduce"):
        reproduce(out=args.out, data=args.data, preset=args.preset, force=args.force, verbose=not args.quiet,
                  seed=args.seed, latents=args.latents, max_epochs=args.epochs, n_spectra=args.n,
                  search_configs=args.search, search_halving=args.halving)
    print(f"report: {args.out}/report.html")
    return 0
