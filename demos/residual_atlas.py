"""Residual atlas: where a VAE trained on the synthetic survey misses genuine SDSS spectra.

What the reader sees: the top panel is the band (16-84%) and median of the normalised residuals
(data - model) / sigma of the high-S/N (>= 30) synthetic validation spectra against rest
wavelength -- a flat band around 0 is what "the model fits to the noise" looks like. Below,
one panel per genuine SDSS spectrum found offline (NGC 3522, an early type; NGC 3073, a
star-forming dwarf; NGC 4636, a massive LINER elliptical, when the ppxf 8.2.6 sdist can be
fetched with pip), each encoded with the model's own preprocessing as ``npvae encode`` does,
its residual raw (grey) and smoothed (black), with its reduced chi^2. The title gives the
realism ratio, median genuine / median high-S/N synthetic reduced chi^2 (1 = the genuine
spectra are as well understood as the synthetic ones).

What to look for: features standing out of the genuine panels are physics the survey lacks
-- before the realism options of docs/synthetic.md, NGC 4636 showed dips at Mg b (5175 A) and
Na D (5893 A) and bumps at [N II] + H-alpha and [S II]; with them (the default) those shrink.
Runs on the cached demo run (8,000 spectra, 30 epochs; about a minute to build the first time,
seconds afterwards). The cache is not rebuilt when the generator changes: remove
``get_data_home()/demo_runs/`` to see the current survey (benchmarks/realism.py keys its cache
by the generator's source and trains afresh). ``--no-download`` uses only the files already here.

Usage: python demos/residual_atlas.py [--run DIR] [--out DIR]
"""
import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.apply.atlas import residual_atlas
from npvae.data.recipe import Preprocessing
from npvae.plots.residuals import plot_residual_atlas
from npvae.synthetic.genuine import genuine_files


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--no-download", action="store_true", help="use only genuine files already here")
    args = parser.parse_args(argv)
    run = run_from_args(args)
    vae = run.model("vae")
    if vae.preprocessing is None:                          # the demo run saves bare models
        vae.preprocessing = Preprocessing.from_training(run.train.flux, run.data.meta)
    files = genuine_files(download_if_missing=not args.no_download)
    res = residual_atlas(vae, run.valid, files)
    for name, r in zip(res["names"], res["rchi2"]):
        print(f"{name}: reduced chi^2 {r:.2f}")
    print(f"realism ratio {res['ratio']:.2f}")
    pre = vae.preprocessing
    wave = 10 ** (pre.loglam0 + pre.dloglam * np.arange(pre.n_pixels))                   # (D,)
    fig = plot_residual_atlas(wave, res["synth_stack"], list(zip(res["names"], res["resid"], res["rchi2"])),
                              title=f"genuine SDSS spectra through a VAE trained on the synthetic survey: "
                                    f"realism ratio {res['ratio']:.2f}")
    save_png(fig, args.out, "residual_atlas", dpi=80)
    return res


if __name__ == "__main__":
    main()
