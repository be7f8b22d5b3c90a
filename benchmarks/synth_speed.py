"""Speed of the synthetic survey: spectra per second of ``generate`` and of ``npvae synth``'s steps.

Usage: python benchmarks/synth_speed.py [--n 8000] [--preprocess]
Prints wall and CPU time (the machine may be shared: CPU time is the fairer number).
"""
import argparse
import time

from npvae.synthetic import generate


def timed(label, fn, n):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    w, c = time.perf_counter() - w, time.process_time() - c
    print(f"{label}: {n} spectra, wall {w:.2f} s ({n / w:.0f}/s), cpu {c:.2f} s ({n / c:.0f}/s)")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--preprocess", action="store_true", help="also time npvae.data.preprocess")
    args = parser.parse_args()
    generate(200, rng=0)                                  # templates loaded, caches warm
    records = timed("generate", lambda: generate(args.n, rng=1), args.n)
    if args.preprocess:
        from npvae.data.preprocess import preprocess
        timed("preprocess (no infill)", lambda: preprocess(records, verbose=False, infill=False), args.n)
        timed("preprocess (infill)", lambda: preprocess(records, verbose=False), args.n)


if __name__ == "__main__":
    main()
