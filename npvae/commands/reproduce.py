"""``npvae reproduce``: the paper's results in one command (see npvae/reproduce/pipeline.py)."""
from ..reproduce import reproduce

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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latents", type=int, nargs="+", default=None, help="override the latent sizes")
    p.add_argument("--epochs", type=int, default=None, help="override the maximum number of epochs")
    p.add_argument("--n", type=int, default=None, help="override the synthetic survey size")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="random search of N configurations per latent size instead of Table 1 "
                        "(the paper used 100)")
    p.add_argument("--halving", action="store_true", help="run the --search with successive halving")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run, preset="quick")


def run(args):
    reproduce(out=args.out, data=args.data, preset=args.preset, force=args.force, verbose=not args.quiet,
              seed=args.seed, latents=args.latents, max_epochs=args.epochs, n_spectra=args.n,
              search_configs=args.search, search_halving=args.halving)
    print(f"report: {args.out}/report.html")
    return 0
