"""The preload of the tasks' Numba kernels (npvae.apply.preload, imported by the workers' fork server):
after it, an encode of raw files (read, rebin, basis infill, encoder, LOF) loads no Numba kernel of
its own, so a worker forked from the server starts with every kernel its tasks call.

Anchor: Numba's own record of what each kernel has loaded (``dispatcher.signatures``), in a fresh
process, before and after the encode; without the preload the same probe sees the kernels load.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import npvae
from npvae.data.readers import write_spec_lite

PROBE = """
import json, sys
import numba
if sys.argv[3] == "preload":
    import npvae.apply.preload
from npvae import encode_spectra, load


def loaded():
    out = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("npvae"):
            for attr, obj in list(vars(module).items()):
                if isinstance(obj, numba.core.registry.CPUDispatcher):
                    out[f"{name}.{attr}"] = sorted(map(str, obj.signatures))
    return out


before = loaded()
table = encode_spectra(load(sys.argv[1]), sys.argv[2], infill="pca")
new = {k: sorted(set(v) - set(before.get(k, []))) for k, v in loaded().items()}
print(json.dumps({"rows": len(table), "infilled": int((table["INFILL_FRAC"] > 0).sum()),
                  "scored": int((table["OUTLIER"] > 0).sum()), "new": sorted(k for k, v in new.items() if v)}))
"""


@pytest.fixture(scope="module")
def raw_files(survey, tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw")
    for i, spectrum in enumerate(survey[:6]):
        write_spec_lite(folder / f"spec-{i}.fits", spectrum)
    return folder


def _probe(tmp_path, bundle, raw_files, mode):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = dict(os.environ, PYTHONPATH=str(Path(npvae.__file__).parents[1]))     # this same npvae
    done = subprocess.run([sys.executable, str(script), str(bundle[0]), str(raw_files), mode], env=env,
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_after_the_preload_an_encode_of_raw_files_loads_no_kernel(tmp_path, bundle, raw_files):
    seen = _probe(tmp_path, bundle, raw_files, "preload")
    assert seen["rows"] == 6 and seen["infilled"] > 0 and seen["scored"] == 6    # every step ran
    assert seen["new"] == []


def test_without_the_preload_the_encode_loads_its_kernels(tmp_path, bundle, raw_files):
    seen = _probe(tmp_path, bundle, raw_files, "none")
    assert {"npvae.analysis.kdtree._query_jit", "npvae.data.infill._weighted_residuals_jit",
            "npvae.data.rebin._rebin_rows_jit", "npvae.nn.kernels._bias_act_forward_jit"} <= set(seen["new"])
