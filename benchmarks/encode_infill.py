"""Which infill reconstructs masked pixels better: the training basis or the VAE itself?

Takes the synthetic validation spectra (galaxies and quasars) of the cached 16,000-spectrum
survey and model of ``encode_genuine.py``, hides pixels whose truth is known (good pixels), and
fills them with

- ``pca``: the training set's mean + 10 eigenvectors fitted by weighted least squares to the
  spectrum's own good pixels (:meth:`npvae.data.recipe.Preprocessing.fill`);
- ``vae``: the same start, then encode -> decode -> refill until the latents settle
  (:func:`npvae.apply.encode.vae_infill`).

Two kinds of hidden stretch, as genuine spectra have them: the blue end (the first 100 rest
pixels, 3388-3700 A, missing for a low-redshift object) and one interior stretch of 60 pixels
at a random place (a bad column, a sky region). Prints the RMS of fill - truth over the hidden
pixels, per class (mean over spectra of each spectrum's RMS), and the noise RMS of those pixels
for scale (1 / sqrt(weight)). Seeded; about a minute on 2 cores.

    python benchmarks/encode_infill.py [--cache DIR] [--n 2000]
"""
import argparse

import numpy as np

import npvae
from npvae.apply.encode import vae_infill
from npvae.data.dataset import load_dataset
from npvae.paper import CLASSES
from npvae.utils import get_data_home

from encode_genuine import trained_model

BLUE = 100          # rest pixels hidden at the blue end
STRETCH = 60        # length of the interior stretch


def hide(mask, rng, kind):
    """A copy of mask (N, D) with the chosen stretch hidden; returns (new mask, hidden (N, D))."""
    n, d = mask.shape
    hidden = np.zeros_like(mask)
    if kind == "blue":
        hidden[:, :BLUE] = True
    else:
        start = rng.integers(BLUE, d - STRETCH, n)                            # (N,)
        hidden[np.arange(d)[None, :] - start[:, None] < STRETCH] = True
        hidden &= np.arange(d)[None, :] >= start[:, None]
    hidden &= ~mask                                                           # truth known there
    return mask | hidden, hidden


def rms_by_class(fill, truth, hidden, labels):
    """{class: mean over spectra of RMS over hidden pixels}."""
    sq = np.where(hidden, (fill - truth) ** 2, 0.0).sum(axis=1)
    per = np.sqrt(sq / np.maximum(hidden.sum(axis=1), 1))                     # (N,)
    out = {c: float(per[labels == c].mean()) for c in CLASSES if np.any(labels == c)}
    out["all"] = float(per.mean())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    parser.add_argument("--n", type=int, default=2000, help="validation spectra used")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model_path, data_path = trained_model(args.cache)
    model = npvae.load(model_path)
    recipe = model.preprocessing
    rng = np.random.default_rng(args.seed)
    valid = load_dataset(data_path, memmap=False).subset("valid").without_stars()
    rows = np.sort(rng.choice(len(valid), min(args.n, len(valid)), replace=False))
    truth, weight = valid.flux[rows], valid.weight[rows]                      # (N, D)
    mask, labels = valid.mask[rows] != 0, valid.labels[rows]
    header = "".join(f"{c:>11s}" for c in ("all",) + CLASSES)
    counts = "".join(f"{int(np.sum(labels == c)) if c != 'all' else len(labels):>11d}" for c in ("all",) + CLASSES)
    print(f"{len(rows)} validation spectra; RMS of fill - truth over hidden pixels\n{'n':22s}{counts}")
    for kind in ("blue", "interior"):
        new_mask, hidden = hide(mask, rng, kind)
        w = np.where(new_mask, 0.0, weight)
        start = np.where(new_mask, 0.0, truth)
        pca = recipe.fill(start, w, new_mask)
        vae, iters = vae_infill(model, pca, new_mask)
        noise = np.where(hidden, 1.0 / np.sqrt(np.where(weight > 0, weight, np.inf)), 0.0)
        print(f"{kind} stretch{'':13s}{header}")
        for name, fill in (("pca (basis)", pca), ("vae (iterated)", vae)):
            res = rms_by_class(fill, truth, hidden, labels)
            print(f"  {name:20s}" + "".join(f"{res.get(c, np.nan):11.4f}" for c in ("all",) + CLASSES))
        res = rms_by_class(noise, 0.0, hidden, labels)
        print(f"  {'noise (1/sqrt w)':20s}" + "".join(f"{res.get(c, np.nan):11.4f}" for c in ("all",) + CLASSES))
        print(f"  VAE iterations: median {np.median(iters[new_mask.any(axis=1)]):.0f}, "
              f"max {iters.max()}")


if __name__ == "__main__":
    main()
