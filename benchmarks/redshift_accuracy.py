"""Redshift accuracy of the VAE scan against PCA templates, on held-out synthetic spectra and genuine SDSS.

The model is the one :mod:`benchmarks.encode_genuine` trains and caches (the paper's 6-latent
InfoVAE, Table 1 architecture, 40 epochs on the galaxies and quasars of a 16,000-spectrum
synthetic survey, seed 0), or any model given with ``--model``. The test set is a NEW synthetic
survey (seed 2026, so no spectrum was seen in training), observed frame, with its true redshifts
(``TRUE_Z``). Both scans use :func:`npvae.apply.redshift_spectra` on the same spectra and grid;
only the model differs (``method="vae"`` or ``"pca"``: the training set's mean + 10 eigenvectors,
the model's own recipe basis). Printed: NMAD of dz / (1 + z) (1.4826 median |x - median x|) and
the catastrophic fraction |dz| / (1 + z) > 0.01, overall, by true class and by the true median
S/N, then the two genuine SDSS DR18 spec-lite files shipped with ppxf against their catalogue Z.

    python benchmarks/redshift_accuracy.py [--n 300] [--model PATH] [--cache DIR]
"""
import argparse
import time

import numpy as np

import npvae
from npvae.apply import redshift_spectra
from npvae.data.readers import read_spectrum
from npvae.reproduce.redshift_scores import CATASTROPHIC, catastrophic_fraction, nmad, redshift_errors
from npvae.synthetic import generate
from npvae.utils import get_data_home

from encode_genuine import genuine_files, trained_model

SN_BINS = ((5, 10), (10, 20), (20, np.inf))


def summary(dz, keep):
    """'NMAD x, catastrophic y% (n)' of dz over the rows ``keep``."""
    d = dz[keep]
    return f"NMAD {nmad(d):.5f}, catastrophic {catastrophic_fraction(d):.1%} (n = {d.size})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="held-out synthetic spectra")
    parser.add_argument("--model", default=None, help="model file (default: the cached encode_genuine model)")
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    model_path = args.model or trained_model(args.cache)[0]
    model = npvae.load(model_path)
    records = generate(args.n, rng=args.seed)
    print(f"model {model_path}; {args.n} held-out synthetic spectra (seed {args.seed})")
    for method in ("vae", "pca"):
        t0 = time.perf_counter()
        table = redshift_spectra(model, records, method=method)
        seconds = time.perf_counter() - t0
        dz, cls, sn = redshift_errors(table, records)                 # (N,) each, the table's rows
        good = table["ZWARN"] == 0
        print(f"\n{method}: {len(table)} spectra in {seconds:.0f} s; {len(table.meta['skipped'])} skipped")
        print(f"  all:               {summary(dz, np.ones(len(dz), bool))}")
        print(f"  ZWARN == 0:        {summary(dz, good)}")
        print(f"  S/N >= 5, no stars: {summary(dz, (sn >= 5) & (cls != 'star'))}")
        for c in np.unique(cls):
            print(f"  class {c:10s} {summary(dz, cls == c)}")
        for lo, hi in SN_BINS:
            print(f"  S/N {lo:>2}-{hi:<4}     {summary(dz, (sn >= lo) & (sn < hi))}")
        z_err = np.abs(dz) * (1 + np.asarray(table["Z"])) / (1 + dz)   # |Z - z_true|, 1 + z_true = (1 + Z) / (1 + dz)
        pull = z_err / np.asarray(table["Z_ERR"])
        ok = np.isfinite(pull) & (np.abs(dz) < CATASTROPHIC)
        print(f"  median |dz| / Z_ERR (not catastrophic): {np.median(pull[ok]):.2f} (0.67 if Z_ERR is right)")
    print("\ngenuine SDSS DR18 spec-lite files (catalogue Z from the file):")
    files = genuine_files()
    for method in ("vae", "pca"):
        table = redshift_spectra(model, files, method=method)
        for path, row in zip(files, table):
            z_sdss = read_spectrum(path).z
            print(f"  {method} {path.name}: Z {row['Z']:.5f} +- {row['Z_ERR']:.5f}, SDSS {z_sdss:.5f}, "
                  f"|dz| {abs(row['Z'] - z_sdss):.5f} (target < 0.0005), ZWARN {row['ZWARN']}, "
                  f"RCHI2 {row['RCHI2']:.2f}, DCHI2 {row['DCHI2']:.0f}")


if __name__ == "__main__":
    main()
