#!/usr/bin/env python3
"""Where a training step's time goes on the main thread: the segments between the model's stages.

Times, on the main thread, each stretch of the training step of benchmarks/train_throughput.py
(the paper's 6-latent model, float32, batch 64, 20,000 synthetic spectra): gathering the batch
and drawing the noise, centring, the encoder's forward pass, the decoder's, the Gaussian NLL,
the KL, the decoder's backward pass, the MMD, the heads' and the encoder's backward pass, and
the end of the step (the wait for the helper thread's queue, or Adam without it). Three epochs;
the medians over the last two are printed.

    python benchmarks/step_segments.py                  # with the helper thread, as fit
    python benchmarks/step_segments.py --layout blas    # each product threaded inside BLAS
"""
import argparse
import time

import numpy as np

import npvae
from npvae.nn import model as model_module
from train_throughput import Stepper, make_data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layout", default="offload", choices=("offload", "blas"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    X, W = make_data(20_000, 1000, "float32", np.random.default_rng(0))
    model = npvae.InfoVAE(dtype="float32", seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, 64)
    marks = []

    def timed(obj, name, label):
        inner = getattr(obj, name)

        def wrapper(*a, **k):
            out = inner(*a, **k)
            marks.append((label, time.perf_counter_ns()))
            return out
        setattr(obj, name, wrapper)

    for name, label in [("_centre", "centre"), ("_encoder_forward", "encoder forward"),
                        ("_decoder_forward", "decoder forward"), ("_decoder_backward", "decoder backward"),
                        ("_encoder_backward", "heads and encoder backward")]:
        timed(model, name, label)
    for name, label in [("gaussian_nll", "Gaussian NLL"), ("kl_to_standard_normal", "KL"), ("mmd_rbf", "MMD")]:
        timed(model_module.losses, name, label)
    timed(stepper, "prepare", "batch and noise")
    timed(stepper, "update", "end of step (helper's queue, or Adam)")
    rows = []
    with stepper.threads(args.threads, args.layout):
        order = np.random.default_rng(3).permutation(len(X))
        for epoch in range(3):
            for s in range(0, len(X) - 63, 64):
                marks.clear()
                marks.append(("start", time.perf_counter_ns()))
                stepper.step(order[s:s + 64])
                if epoch:
                    rows.append([t for _, t in marks])
    labels = [label for label, _ in marks]
    times = np.diff(np.array(rows, float), axis=1) / 1e3                 # (steps, segments) us
    total = (np.array(rows)[:, -1] - np.array(rows)[:, 0]) / 1e3
    print(f"layout {args.layout}: step median {np.median(total):.0f} us over {len(rows)} steps")
    for label, value in zip(labels[1:], np.median(times, axis=0)):
        print(f"  {value:7.0f} us  {label}")


if __name__ == "__main__":
    main()
