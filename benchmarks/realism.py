"""Realism of the synthetic survey, judged by a VAE: genuine SDSS spectra vs synthetic ones.

Trains a VAE only on the synthetic survey (``--n`` spectra, ``--latent`` latents, hidden
layers ``--hidden``, ``--epochs``; cached under ``get_data_home()/realism/``, keyed by these
and by a hash of the generator's source, so a change of the physics trains afresh), stores the
training set's preprocessing recipe with it as ``npvae train`` does, and encodes with
:func:`npvae.apply.encode_spectra` (what ``npvae encode`` runs, infill from the training basis):

- the genuine SDSS spectra of :func:`npvae.synthetic.genuine.genuine_files` (NGC 3522,
  NGC 3073 from the ppxf wheel; NGC 4636 from the ppxf 8.2.6 sdist, fetched once with pip);
- the synthetic validation spectra, of which those with SN_MEDIAN >= 30 are the comparison.

Prints each genuine spectrum's reduced chi^2, the median of the high-S/N synthetic ones and
the realism ratio (median genuine / median synthetic; the target is <= 2), and saves the
residual atlas (normalised residuals (data - model) / sigma by rest wavelength) as a PNG.
Not a test; numbers go to docs/synthetic.md.

    python benchmarks/realism.py [--n 16000] [--epochs 40] [--latent 6] [--hidden 256,64]
                                 [--physics LIST] [--png realism_atlas.png] [--cache DIR]
"""
import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.apply.atlas import HIGH_SN, residual_atlas
from npvae.data.dataset import load_dataset
from npvae.data.recipe import Preprocessing
from npvae.plots.residuals import plot_residual_atlas
from npvae.synthetic import make_dataset
from npvae.synthetic.genuine import genuine_files
from npvae.train import make_model
from npvae.utils import get_data_home

def generator_hash():
    """Short hash of the synthetic generator's source: the cache key of the survey."""
    folder = Path(npvae.__file__).parent / "synthetic"
    digest = hashlib.sha1()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def trained_model(cache, n, epochs, latent, hidden, seed=0, physics=None, verbose=True):
    """(model path, dataset path): survey of ``n`` spectra and the VAE trained on it, made once.

    ``physics``: the survey's optional physics (None = the default, all).
    """
    h = "-".join(map(str, hidden))
    tag = "" if physics is None else "_p" + ("-".join(sorted(physics)) or "none")
    folder = Path(cache) / f"n{n}_e{epochs}_z{latent}_h{h}_s{seed}{tag}_{generator_hash()}"
    folder.mkdir(parents=True, exist_ok=True)
    data_path, model_path = folder / "dataset.fits", folder / "model.npz"
    if not data_path.exists():
        make_dataset(n, rng=seed, path=data_path, verbose=verbose, physics=physics)
    if not model_path.exists():
        data = load_dataset(data_path, memmap=False)
        train, valid = (data.subset(s).without_stars() for s in ("train", "valid"))
        model = make_model("vae", latent, hidden=tuple(hidden), seed=seed + latent)
        model.fit(train.flux, train.weight, valid.flux, valid.weight, max_epochs=epochs, verbose=verbose)
        model.preprocessing = Preprocessing.from_training(train.flux, data.meta)
        model.save(model_path)
    return model_path, data_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--latent", type=int, default=6)
    parser.add_argument("--hidden", default="256,64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--physics", default=None, help="comma-separated optional physics of the survey "
                        "(abundances, quiescent_lines, calibration; 'none' for none; default all)")
    parser.add_argument("--png", default="realism_atlas.png")
    parser.add_argument("--cache", default=str(get_data_home() / "realism"))
    args = parser.parse_args(argv)
    hidden = [int(h) for h in args.hidden.split(",")]
    physics = None if args.physics is None else [p for p in args.physics.split(",") if p not in ("", "none")]
    t0 = time.perf_counter()
    model_path, data_path = trained_model(args.cache, args.n, args.epochs, args.latent, hidden, args.seed,
                                          physics)
    model = npvae.load(model_path)
    valid = load_dataset(data_path, memmap=False).subset("valid").without_stars()
    print(f"model {model_path} ready in {time.perf_counter() - t0:.0f} s")
    res = residual_atlas(model, valid, genuine_files())
    for name, r, s in zip(res["names"], res["rchi2"], res["sn"]):
        print(f"  {name}: reduced chi^2 {r:.2f} (S/N {s:.0f})")
    print(f"synthetic S/N >= {HIGH_SN:.0f}: median reduced chi^2 {res['synth_rchi2']:.3f} "
          f"(n = {res['n_high']}); realism ratio {res['ratio']:.2f}")
    pre = model.preprocessing
    wave = 10 ** (pre.loglam0 + pre.dloglam * np.arange(pre.n_pixels))                     # (D,)
    fig = plot_residual_atlas(wave, res["synth_stack"], list(zip(res["names"], res["resid"], res["rchi2"])),
                              title=f"VAE (Z={args.latent}, {args.hidden}, {args.epochs} epochs) on "
                                    f"{args.n} synthetic spectra (physics: {args.physics or 'all'}): "
                                    f"realism ratio {res['ratio']:.2f}")
    fig.savefig(args.png, dpi=70)
    print(f"wrote {args.png}")
    return res


if __name__ == "__main__":
    main()
