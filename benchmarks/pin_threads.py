"""Does pinning the main thread and the BLAS worker to different CPUs remove the slow epochs?

One epoch of 20,000 spectra of the paper's 6-latent model (float32, batch 64, the training
loop's step as in ``train_throughput.Stepper``), in this process; with ``pin`` the main thread
goes to CPU 0 and every other thread of the process (OpenBLAS's worker) to CPU 1 after the
first step. Run alternately in fresh processes:

    for r in 1 2 3 4 5 6; do python benchmarks/pin_threads.py free; python benchmarks/pin_threads.py pin; done

Prints the mode and spectra/s.
"""
import os
import sys
import time

import numpy as np

import npvae
from train_throughput import Stepper, make_data


def main():
    pin = sys.argv[1:] == ["pin"]
    rng = np.random.default_rng(0)
    X, W = make_data(20_000, 1000, np.float32, rng)                  # (N, D)
    model = npvae.InfoVAE(1000, (703, 94), 6, seed=0, dtype=np.float32)
    model.mean_ = X.mean(axis=0)
    stepper = Stepper(model, X, W, 64)
    stepper.step(np.arange(64))                                      # starts the BLAS pool
    if pin:
        main_tid = os.getpid()
        for tid in map(int, os.listdir("/proc/self/task")):
            os.sched_setaffinity(tid, {0} if tid == main_tid else {1})
    order = rng.permutation(len(X))
    start = time.perf_counter()
    for s in range(0, len(X) - 63, 64):
        stepper.step(order[s:s + 64])
    print(f"{'pin' if pin else 'free'} {len(X) / (time.perf_counter() - start):,.0f} spectra/s")


if __name__ == "__main__":
    main()
