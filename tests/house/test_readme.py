"""README.md's promises hold: its set-up commands are the ones CI runs, and its quick start runs.

The quick start is taken from the README's first ```python block and run as written (in a
temporary folder, because it saves a model file), then its results are checked: the shapes it
promises, reconstruct = decode(transform), a saved model that loads back to the same codes, and
a trained model that reconstructs the validation spectra far better than their mean spectrum.
"""
import re
from pathlib import Path

import numpy as np

import npvae

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
INSTALL, TEST = 'pip install -e ".[test]"', "python -m pytest -q"


def python_blocks(text):
    """The bodies of the ```python blocks of a Markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_set_up_commands_are_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in (INSTALL, TEST):
        assert command in README, command
        assert command in ci, command


def test_readme_quick_start_runs_and_does_what_it_says(tmp_path, monkeypatch):
    blocks = python_blocks(README)
    assert blocks, "README.md has no ```python block"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    exec(compile(blocks[0], "README.md quick start", "exec"), namespace)

    valid, model = namespace["valid"], namespace["model"]
    codes, mu, logvar = namespace["codes"], namespace["mu"], namespace["logvar"]
    spectra, recon = namespace["spectra"], namespace["recon"]
    n = len(valid.flux)
    assert n > 100 and codes.shape == mu.shape == logvar.shape == (n, 6)
    assert spectra.shape == recon.shape == valid.flux.shape == (n, 1000)
    np.testing.assert_array_equal(codes, mu)                  # the encoding is the latent mean
    np.testing.assert_array_equal(recon, spectra)             # reconstruct = decode(transform)
    np.testing.assert_array_equal(npvae.load(tmp_path / "vae6.npz").transform(valid.flux), codes)
    error = np.mean(valid.weight * (recon - valid.flux) ** 2)                     # Fig. 3 metric
    mean_only = np.mean(valid.weight * (valid.flux - model.mean_) ** 2)           # no latents at all
    assert error < 0.2 * mean_only, (error, mean_only)
