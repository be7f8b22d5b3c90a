"""Speed of the redshift scan (``npvae redshift``): spectra per second, wall and CPU, and where the time goes.

Scans ``--n`` synthetic observed-frame spectra (seed 1) with :func:`npvae.apply.redshift_spectra`
over the default trial range, with the VAE and with the PCA templates, ``--repeats`` times each,
and prints the median spectra per second of wall time and per CPU-second of this process (the
second is less sensitive to other processes sharing the cores). Then one profiled VAE pass:
the share of the time in the network (encode_chunk), the infill, the per-trial normalisation
and the rebinning. The model is the cached benchmark model of ``encode_genuine.py`` (the paper's
6-latent architecture) unless ``--model`` is given.

    python benchmarks/redshift_speed.py [--n 40] [--repeats 3] [--model PATH]
"""
import argparse
import cProfile
import pstats
import time

import numpy as np

import npvae
from npvae.apply import redshift_spectra
from npvae.synthetic import generate
from npvae.utils import get_data_home

from encode_genuine import trained_model

STAGES = {"network (encode_chunk)": "encode_chunk", "infill (basis_infill)": "basis_infill",
          "normalise_rest": "normalise_rest", "rebinning (_rebin_rows)": "_rebin_rows"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    args = parser.parse_args(argv)
    model = npvae.load(args.model or trained_model(args.cache)[0])
    records = generate(args.n, rng=1)
    redshift_spectra(model, records[:2])                                   # compile the kernels
    for method in ("vae", "pca"):
        wall, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            table = redshift_spectra(model, records, method=method)
            wall.append(args.n / (time.perf_counter() - t0))
            cpu.append(args.n / (time.process_time() - c0))
        trials = int(np.median(table["N_TRIALS"]))
        print(f"{method}: {np.median(wall):.1f} spectra/s wall ({min(wall):.1f}-{max(wall):.1f}), "
              f"{np.median(cpu):.1f} per CPU-second; median {trials} coarse trials per spectrum")
    profile = cProfile.Profile()
    profile.runcall(redshift_spectra, model, records)
    stats = pstats.Stats(profile).stats
    total = max(v[3] for v in stats.values())
    for label, name in STAGES.items():
        seconds = sum(v[3] for (_, _, func), v in stats.items() if func == name)
        print(f"  vae {label}: {seconds / total:.0%} of the scan")


if __name__ == "__main__":
    main()
