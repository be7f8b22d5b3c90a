"""Genuine SDSS spectra through a model trained on the synthetic survey: RCHI2 against synthetic.

Trains (once, cached under ``get_data_home()/encode_genuine/``) the paper's 6-latent InfoVAE
(Table 1 architecture, 40 epochs) on the synthetic survey of 16,000 spectra (galaxies and
quasars of the training split), saves it with its preprocessing recipe as ``npvae train``
does, then encodes with :func:`npvae.apply.encode_spectra` (what ``npvae encode`` runs):

- the two genuine SDSS DR18 spec-lite files shipped in the ppxf wheel (NGC 3073, NGC 3522);
- the synthetic validation spectra (galaxies and quasars), of which those with SN_MEDIAN >= 30
  are the comparison.

Prints, for each infill method, each genuine file's RCHI2 and the ratio of their median to the
median RCHI2 of the high-S/N synthetic spectra (the target is <= 2). Takes about 3 minutes
the first time on 2 cores, seconds afterwards.

    python benchmarks/encode_genuine.py [--cache DIR] [--epochs 40]
"""
import argparse
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.apply import encode_spectra
from npvae.data.dataset import load_dataset
from npvae.data.recipe import Preprocessing
from npvae.synthetic import make_dataset
from npvae.train import make_model
from npvae.utils import get_data_home

N_SURVEY = 16000
HIGH_SN = 30.0
GENUINE = ("NGC3073", "NGC3522")


def trained_model(cache, epochs=40, verbose=True):
    """(model path, dataset path): the survey and the bundled 6-latent model, made once."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    data_path, model_path = cache / "dataset.fits", cache / "model.npz"
    if not data_path.exists():
        make_dataset(N_SURVEY, rng=0, path=data_path, verbose=verbose)
    if not model_path.exists():
        data = load_dataset(data_path, memmap=False)
        train, valid = (data.subset(s).without_stars() for s in ("train", "valid"))
        model = make_model("vae", 6, seed=6)
        model.fit(train.flux, train.weight, valid.flux, valid.weight, max_epochs=epochs, verbose=verbose)
        model.preprocessing = Preprocessing.from_training(train.flux, data.meta)
        model.save(model_path)
    return model_path, data_path


def genuine_files():
    """The genuine SDSS DR18 spec-lite files of the ppxf wheel."""
    import ppxf

    folder = Path(ppxf.__file__).parent / "spectra"
    return [folder / f"{name}_SDSS_DR18.fits" for name in GENUINE]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    model_path, data_path = trained_model(args.cache, args.epochs)
    model = npvae.load(model_path)
    valid = load_dataset(data_path, memmap=False).subset("valid").without_stars()
    print(f"model {model_path} ready in {time.perf_counter() - t0:.0f} s")
    for method in ("pca", "vae"):
        real = encode_spectra(model, genuine_files(), infill=method)
        synth = encode_spectra(model, valid, infill=method)
        high = np.asarray(synth["SN_MEDIAN"]) >= HIGH_SN
        ref = float(np.median(synth["RCHI2"][high]))
        ratio = float(np.median(real["RCHI2"])) / ref
        each = ", ".join(f"{name} {r:.2f} (S/N {s:.0f})" for name, r, s in
                         zip(GENUINE, real["RCHI2"], real["SN_MEDIAN"]))
        print(f"infill {method}: genuine RCHI2 {each}; synthetic S/N >= {HIGH_SN:.0f} median "
              f"{ref:.3f} (n = {int(high.sum())}); ratio of medians {ratio:.2f}")


if __name__ == "__main__":
    main()
