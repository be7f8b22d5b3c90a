"""Speed of applying a trained model: preprocessed spectra, and raw spec-lite files end to end.

(a) Preprocessed input: :func:`npvae.apply.encode_chunk` with the paper's 6-latent model
    (1000-703-94-6, float32) over an N x 1000 float32 array in chunks: latents only, and latents
    plus the reconstruction's reduced chi^2; for scale, the engine's ``model.encode`` and the
    first layer's matrix product alone (the floor: it is 1.4 of the encoder's 1.5 MFLOP).
(b) Raw files: :func:`npvae.apply.encode_spectra` on a folder of synthetic spec-lite files
    (read, mask, rebin, normalise, infill, encode, outlier score) with 1 and 2 worker processes
    and both infills, with the model of ``encode_genuine.py`` (trained once and cached).

(c) ``--profile SURVEY MODEL``: where the CPU of ``npvae encode SURVEY --model MODEL --infill pca``
    goes, part by part, on one thread: thread CPU time (not wall time, so a busy machine inflates
    it less) per spectrum of reading a chunk's rows, the basis infill, encode_chunk (latents and
    RCHI2, and latents alone as with ``--no-rchi2``), the LOF and the whole task
    (:func:`npvae.apply.spectra.encode_task`, whose excess over the parts is the glue), over
    ``--profile-rows`` rows of the first shard, twice (the second counts). The LOF is also timed
    the way it was before the kd-tree of :mod:`npvae.analysis.kdtree` (SciPy's ``cKDTree``), the
    two alternating chunk by chunk and checked equal; the fraction of rows with masked pixels
    (the only ones the basis infill works on) is printed too, and what a task's result costs a
    Dask worker: pickling it and its bytes per spectrum; and the page faults of the tasks per
    spectrum (first touches of fresh memory pages, each costly on this machine).

(d) ``--dask SURVEY MODEL``: the same encode on a LocalCluster of 2 workers, warmed up on the
    first shard (imports, model, LOF fit, Numba), then the whole survey: wall spectra/s and CPU
    microseconds per spectrum of the client (with the scheduler) and of the workers (getrusage).

Each measurement is repeated ``--repeat`` times; the median and the range are printed in
spectra per second. Targets: (a) >= 100,000/s, (b) >= 2,000/s on 2 cores.

    python benchmarks/encode_speed.py [--n 65536] [--files 2000] [--repeat 5]
    python benchmarks/encode_speed.py --profile SURVEY_DIR RUN_DIR [--profile-rows 16384]
    python benchmarks/encode_speed.py --dask SURVEY_DIR RUN_DIR
"""
import argparse
import pickle
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.apply import encode_chunk, encode_spectra
from scipy.spatial import cKDTree

from npvae.analysis.outliers import lof_novelty_scores
from npvae.apply.datarows import CATALOG, dataset_files
from npvae.apply.spectra import CHUNK, TASK_CHUNKS, encode_task, outlier_reference
from npvae.data.fitsfast import read_rows
from npvae.distributed import open_engine
from npvae.distributed.engines import one_thread
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


def lof_with_ckdtree(lof, tree, mu):
    """The LOF scores as computed before the kd-tree (SciPy's cKDTree; the same arithmetic after it)."""
    dist, idx = tree.query(np.asarray(mu, np.float64), k=lof.k)          # (B, k) each
    reach = np.maximum(dist, lof.k_distance[idx])
    lrd = 1.0 / (np.mean(reach, axis=1) + 1e-10)
    return np.mean(lof.lrd[idx] / lrd[:, np.newaxis], axis=1)


def profile(survey, model_path, n_rows):
    """Thread CPU microseconds per spectrum of each part of an encode task, on one thread."""
    model = npvae.load(model_path)
    lof = outlier_reference(model)
    old_tree = cKDTree(np.asarray(model.train_latents_, np.float64))     # the LOF's reference points
    masked_rows = []
    shard, rows = dataset_files(Path(survey).resolve())[0]
    ranges = [(lo, min(lo + CHUNK, rows, n_rows)) for lo in range(0, min(rows, n_rows), CHUNK)]
    cpu, sent = {}, [0, 0]                                            # cpu s by part; result bytes, faults

    def timed(name, fn, *args, **kwargs):
        t0 = time.thread_time()
        out = fn(*args, **kwargs)
        cpu[name] = cpu.get(name, 0.0) + time.thread_time() - t0
        return out

    def parts():
        for lo, hi in ranges:
            arrays, _ = timed("read rows", read_rows, str(shard), lo, hi, ("FLUX", "WEIGHT", "MASK"), "CATALOG",
                              CATALOG)
            flux, weight, mask = arrays["FLUX"], arrays["WEIGHT"], arrays["MASK"] != 0
            masked_rows.append(np.count_nonzero(mask.any(axis=1)) / len(mask))
            flux = timed("basis infill", model.preprocessing.fill, flux, weight, mask, overwrite=True)   # as a task
            mu = timed("encode_chunk (MU, LOGVAR, RCHI2)", encode_chunk, model, flux, weight)[0]
            timed("encode_chunk (MU, LOGVAR; --no-rchi2)", encode_chunk, model, flux, weight, rchi2=False)
            new = timed("LOF (k = 20), kd-tree", lof_novelty_scores, lof, mu)
            old = timed("LOF (k = 20), cKDTree (before)", lof_with_ckdtree, lof, old_tree, mu)
            if not np.array_equal(new, old):
                print(f"  LOF: {np.count_nonzero(new != old)} scores differ (ties ordered differently)")
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for s in range(0, len(ranges), TASK_CHUNKS):
            items = [("rows", str(shard), lo, hi) for lo, hi in ranges[s:s + TASK_CHUNKS]]
            result = timed("whole encode_task", encode_task, items, model, "pca", False)
            sent[0] += len(timed("pickling a task's result (Dask)", pickle.dumps, result, protocol=5))
        sent[1] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    for _ in range(2):                                                # the first warms caches and Numba
        cpu.clear()
        masked_rows.clear()
        sent[:] = [0, 0]
        one_thread(parts)
    n = ranges[-1][1] - ranges[0][0]
    print(f"(c) encode profile, one thread: {n} rows of {shard.name}, chunks of {CHUNK}, thread CPU us per spectrum")
    for name, seconds in cpu.items():
        print(f"  {name:44s} {seconds / n * 1e6:8.1f}")
    parts_of_task = ("read rows", "basis infill", "encode_chunk (MU, LOGVAR, RCHI2)", "LOF (k = 20), kd-tree")
    glue = cpu["whole encode_task"] - sum(cpu[k] for k in parts_of_task)
    print(f"  {'(a task result pickled: bytes per spectrum)':44s} {sent[0] / n:8.1f}")
    print(f"  {'(page faults per spectrum in the tasks)':44s} {sent[1] / n:8.2f}")
    print(f"  {'glue (task minus the parts)':44s} {glue / n * 1e6:8.1f}")
    print(f"  rows with masked pixels: {np.mean(masked_rows):.1%}; reference latents: {len(model.train_latents_)}")


def _process_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def on_dask(survey, model_path):
    """Warm steady-state CPU per spectrum of encode on a 2-worker LocalCluster (client and workers)."""
    model = npvae.load(model_path)
    shards = dataset_files(Path(survey).resolve())
    with open_engine("local", 2) as engine:
        encode_spectra(model, [str(shards[0][0])], engine=engine, infill="pca")          # warm-up
        client0, workers0 = time.process_time(), sum(engine.client.run(_process_cpu).values())
        t0 = time.perf_counter()
        table = encode_spectra(model, [survey], engine=engine, infill="pca")
        wall = time.perf_counter() - t0
        client = time.process_time() - client0
        workers = sum(engine.client.run(_process_cpu).values()) - workers0
    n = len(table)
    print(f"(d) encode on 2 Dask workers, warm: {n} spectra in {wall:.2f} s = {n / wall:,.0f}/s; CPU us per "
          f"spectrum: client {client / n * 1e6:.1f}, workers {workers / n * 1e6:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=65536, help="preprocessed spectra")
    parser.add_argument("--chunk", type=int, default=8192)
    parser.add_argument("--files", type=int, default=2000, help="raw files (0 = skip part b)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", default=str(get_data_home() / "encode_genuine"))
    parser.add_argument("--profile", nargs=2, metavar=("SURVEY", "MODEL"), default=None,
                        help="only (c): profile encode tasks on a sharded survey with a trained model")
    parser.add_argument("--profile-rows", type=int, default=16384)
    parser.add_argument("--dask", nargs=2, metavar=("SURVEY", "MODEL"), default=None,
                        help="only (d): encode a sharded survey on 2 warm Dask workers")
    args = parser.parse_args(argv)
    if args.profile or args.dask:
        if args.profile:
            profile(*args.profile, args.profile_rows)
        if args.dask:
            on_dask(*args.dask)
        return
    preprocessed(args.n, args.chunk, args.repeat)
    if args.files:
        raw(args.files, args.repeat, args.cache)


if __name__ == "__main__":
    main()
