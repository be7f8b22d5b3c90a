"""Speed of the redshift scan (``npvae redshift``): spectra per second, wall and CPU, and where the time goes.

Scans ``--n`` synthetic observed-frame spectra (seed 1) with :func:`npvae.apply.redshift_spectra`
over the default trial range, with the VAE and with the PCA templates, ``--repeats`` times each
(alternating), with ``--threads`` spectra at once (default: one per core, at most 4), and prints
the median spectra per second of wall time and per CPU-second of this process (the second is
less sensitive to other processes sharing the cores). Then one profiled pass of each method in
one thread: the share of the time in the network (encode_chunk), the least-squares fits (the
VAE's basis infill, the PCA templates' fit), the preparation of the trial rows (normalisation and
weights) and the rebinning. The model is the cached benchmark model of ``encode_genuine.py``
(the paper's 6-latent architecture) unless ``--model`` is given.

    python benchmarks/redshift_speed.py [--n 40] [--repeats 3] [--threads T] [--model PATH]
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

STAGES = {"network (encode_chunk)": "encode_chunk", "least squares (WeightedFit.coefficients)": "coefficients",
          "trial rows (prepare_windows)": "prepare_windows", "rebinning (_rebin_rows)": "_rebin_rows"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="spectra at once (default: one per core, at most 4)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    args = parser.parse_args(argv)
    model = npvae.load(args.model or trained_model(args.cache)[0])
    records = generate(args.n, rng=1)
    redshift_spectra(model, records[:2])                                   # compile the kernels
    wall, cpu = {"vae": [], "pca": []}, {"vae": [], "pca": []}
    for _ in range(args.repeats):
        for method in ("vae", "pca"):
            t0, c0 = time.perf_counter(), time.process_time()
            table = redshift_spectra(model, records, method=method, threads=args.threads)
            wall[method].append(args.n / (time.perf_counter() - t0))
            cpu[method].append(args.n / (time.process_time() - c0))
    trials = int(np.median(table["N_TRIALS"]))
    for method in ("vae", "pca"):
        w = wall[method]
        print(f"{method}: {np.median(w):.1f} spectra/s wall ({min(w):.1f}-{max(w):.1f}), "
              f"{np.median(cpu[method]):.1f} per CPU-second; median {trials} coarse trials per spectrum")
    for method in ("vae", "pca"):
        profile = cProfile.Profile()
        profile.runcall(redshift_spectra, model, records, method=method, threads=1)
        stats = pstats.Stats(profile).stats
        total = max(v[3] for v in stats.values())
        shares = ", ".join(f"{label} {sum(v[3] for (_, _, func), v in stats.items() if func == name) / total:.0%}"
                           for label, name in STAGES.items())
        print(f"  {method} in one thread: {shares}")

if __name__ == "__main__":
    main()
