"""Speed of applying a trained model: preprocessed spectra, and raw spec-lite files end to end.

(a) Preprocessed input: :func:`npvae.apply.encode_chunk` with the paper's 6-latent model
    (1000-703-94-6, float32) over an N x 1000 float32 array in chunks: latents only, and latents
    plus the reconstruction's reduced chi^2; for scale, the engine's ``model.encode`` and the
    first layer's matrix product alone (the floor: it is 1.4 of the encoder's 1.5 MFLOP).
(b) Raw files: :func:`npvae.apply.encode_spectra` on a folder of synthetic spec-lite files
    (read, mask, rebin, normalise, infill, encode, outlier score) with 1 and 2 worker processes
    and both infills, with the model of ``encode_genuine.py`` (trained once and cached).

Each measurement is repeated ``--repeat`` times; the median and the range are printed in
spectra per second. Targets: (a) >= 100,000/s, (b) >= 2,000/s on 2 cores.

    python benchmarks/encode_speed.py [--n 65536] [--files 2000] [--repeat 5]
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.apply import encode_chunk, encode_spectra
from npvae.apply.spectra import outlier_reference
from npvae.synthetic import generate
from npvae.synthetic.dataset import write_raw
from npvae.train import make_model
from npvae.utils import get_data_home

from encode_genuine import trained_model


def rate(fn, n, repeat):
    """(median, min, max) of n / seconds over ``repeat`` calls of fn()."""
    rates = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates), min(rates), max(rates)


def show(name, r):
    print(f"  {name:44s} {r[0]:10,.0f} /s   (range {r[1]:,.0f} - {r[2]:,.0f})")


def preprocessed(n, chunk, repeat):
    model = make_model("vae", 6)                                     # Table 1, float32
    model.is_fitted = True                       # random weights: a timing needs no training
    rng = np.random.default_rng(0)
    X = (1.0 + 0.1 * rng.standard_normal((n, model.n_features))).astype(np.float32)   # (N, D)
    W = np.full_like(X, 100.0)

    def chunks(weights):
        for s in range(0, n, chunk):
            encode_chunk(model, X[s:s + chunk], W[s:s + chunk] if weights else None)

    W1 = model.params["enc1.W"]
    print(f"(a) preprocessed: {n} spectra, chunks of {chunk}")
    gemm = rate(lambda: [X[s:s + chunk] @ W1 for s in range(0, n, chunk)], n, repeat)
    show("first-layer product alone (floor)", gemm)
    print(f"  {'':44s} = {gemm[0] * 2 * W1.size / 1e9:.0f} GFLOP/s")
    show("encode_chunk: MU, LOGVAR", rate(lambda: chunks(False), n, repeat))
    show("encode_chunk: MU, LOGVAR, RCHI2", rate(lambda: chunks(True), n, repeat))
    show("engine model.encode (reference)", rate(lambda: model.encode(X), n, repeat))


def raw(n_files, repeat, cache):
    model = npvae.load(trained_model(cache)[0])
    outlier_reference(model)                                          # fitted once per model
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_raw(generate(n_files, rng=5), Path(tmp) / "raw")
        print(f"(b) raw spec-lite files: {n_files}")
        for jobs in (1, 2):
            for infill in ("pca", "vae"):
                r = rate(lambda: encode_spectra(model, [folder], infill=infill, n_jobs=jobs), n_files, repeat)
                show(f"encode_spectra, {jobs} process(es), infill {infill}", r)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=65536, help="preprocessed spectra")
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--files", type=int, default=2000, help="raw files (0 = skip part b)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    args = parser.parse_args(argv)
    preprocessed(args.n, args.chunk, args.repeat)
    if args.files:
        raw(args.files, args.repeat, args.cache)


if __name__ == "__main__":
    main()
