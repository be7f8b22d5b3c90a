"""Single products of the training step: BLAS with 2 threads, with 1, and split over the pool (npvae.nn.parallel)."""
import time, numpy as np
from threadpoolctl import threadpool_limits
from npvae.nn import parallel
rng = np.random.default_rng(0)
def bench(f, n=2000):
    for _ in range(100): f()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter_ns(); f(); ts.append(time.perf_counter_ns() - t0)
    return f"{np.median(ts)/1e3:6.1f}"
shapes = [((64,703),(703,94)), ((64,94),(94,703)), ((94,64),(64,703)), ((703,64),(64,94)), ((64,1000),(1000,703)), ((1000,64),(64,703))]
for sa, sb in shapes:
    a = rng.standard_normal(sa).astype(np.float32); b = rng.standard_normal(sb).astype(np.float32)
    if sa[0] in (94, 703, 1000) and sa[1] == 64: a = np.ascontiguousarray(a.T).T
    o = np.empty((sa[0], sb[1]), np.float32)
    with threadpool_limits(2):
        t2 = bench(lambda: np.matmul(a, b, out=o))
    with threadpool_limits(1):
        t1 = bench(lambda: np.matmul(a, b, out=o))
    with parallel.training_threads(2):
        ts = bench(lambda: parallel.matmul(a, b, out=o))
    print(sa, sb, "blas2", t2, "blas1", t1, "split", ts)
