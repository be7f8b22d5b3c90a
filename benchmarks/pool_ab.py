"""In-process A/B: blocks of training steps, the one-pool layout (npvae.nn.parallel) against BLAS threads.

    python benchmarks/pool_ab.py 60 30      # 30 alternating blocks of 60 steps each
"""
import sys, time, contextlib
import numpy as np
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
import npvae
from npvae.nn.parallel import training_threads
from train_throughput import make_data, Stepper
from threadpoolctl import threadpool_limits
X, W = make_data(20000, 1000, "float32", np.random.default_rng(0))
m = npvae.InfoVAE(dtype="float32", seed=0)
m.mean_[...] = X.mean(0)
st = Stepper(m, X, W, 64)
def mode(name):
    stack = contextlib.ExitStack()
    stack.enter_context(threadpool_limits(2))
    if name == "pool":
        stack.enter_context(training_threads(2))
    return stack
block = int(sys.argv[1]); nblk = int(sys.argv[2])
MODES = ["blas", "pool"]
res = {k: [] for k in MODES}
order = np.random.default_rng(5).permutation(len(X))
pos = 0
for name in MODES:
    with mode(name):
        for s in range(150):
            st.step(order[pos:pos+64]); pos = (pos + 64) % 19968
for b in range(nblk):
    for name in (MODES if b % 2 == 0 else MODES[::-1]):
        with mode(name):
            for s in range(5):
                st.step(order[pos:pos+64]); pos = (pos + 64) % 19968
            t0 = time.perf_counter_ns()
            for s in range(block):
                st.step(order[pos:pos+64]); pos = (pos + 64) % 19968
            res[name].append((time.perf_counter_ns() - t0) / block / 1e3)
b = np.array(res["blas"]); o = np.array(res["pool"])
print(f"blas median {np.median(b):.0f}  pool median {np.median(o):.0f}  median ratio pool/blas {np.median(o/b):.3f}  pool faster in {np.sum(o<b)}/{len(b)}")
