"""The plain Python bodies of the Numba kernels, run with NUMBA_DISABLE_JIT=1.

A subprocess imports npvae with the JIT disabled, checks that the kernels really are plain
Python functions, and runs a tiny InfoVAE's loss_and_grads, an Autoencoder's, and one Adam
step; the parent (jitted) runs the same and compares. Float64, so the two must agree to
rounding (1e-12).
"""
import json
import os
import subprocess
import sys

import numpy as np

from npvae.nn import kernels

SCRIPT = r"""
import json, sys
import numpy as np
import npvae
from npvae.nn import kernels

def run():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((6, 30)), rng.uniform(0.5, 2.0, (6, 30))
    eps, prior = rng.standard_normal((6, 3)), rng.standard_normal((10, 3))
    vae = npvae.InfoVAE(30, (12, 7), 3, activation="leaky_relu", dtype=np.float64, seed=1, n_prior=10)
    terms, grads = vae.loss_and_grads(x, w, eps, prior)
    out = {"terms": terms, "grads": {k: v.tolist() for k, v in grads.items()}}
    npvae.Adam(vae.params, lr=1e-2).step(grads)
    out["after_adam"] = {k: v.tolist() for k, v in vae.params.items()}
    ae = npvae.Autoencoder(30, (12, 7), 3, dtype=np.float64, seed=2)
    ae_terms, ae_grads = ae.loss_and_grads(x, w)
    out["ae_terms"] = ae_terms
    out["ae_grads"] = {k: v.tolist() for k, v in ae_grads.items()}
    return out

if __name__ == "__main__":
    for name in ("bias_act_forward", "act_backward_bias", "weighted_residual", "neg_scaled_sq_dists",
                 "neg_scaled_pair_sq_dists", "adam_update"):
        assert getattr(kernels, f"_{name}_jit") is getattr(kernels, f"_{name}"), "JIT not disabled"
    json.dump(run(), sys.stdout)
"""


def _run_in_process():
    namespace = {"__name__": "not_main"}
    exec(compile(SCRIPT, "<nojit>", "exec"), namespace)
    return namespace["run"]()


def test_python_kernel_bodies_without_jit_equal_the_jitted_run():
    assert isinstance(kernels._neg_scaled_sq_dists_jit, type(kernels._adam_update_jit))
    assert kernels._neg_scaled_sq_dists_jit is not kernels._neg_scaled_sq_dists      # parent is jitted
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nojit = json.loads(proc.stdout)
    jit = _run_in_process()
    for group in ("terms", "ae_terms"):
        for k, v in jit[group].items():
            assert abs(nojit[group][k] - v) <= 1e-12 * abs(v), (group, k)
    for group in ("grads", "after_adam", "ae_grads"):
        assert set(nojit[group]) == set(jit[group])
        for k in jit[group]:
            a, b = np.array(nojit[group][k]), np.array(jit[group][k])
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13 * np.abs(b).max(),
                                       err_msg=f"{group} {k}")
