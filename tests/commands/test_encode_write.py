"""``npvae encode``'s output file: write_latents against the astropy writer it replaced, byte for byte."""
import numpy as np
import pytest
from _reference import write_latents_astropy
from astropy.io import fits
from astropy.table import Table

from npvae.commands.encode import write_latents
from npvae.data.preprocess import REST_WAVE


def encode_table(n, rng, source_kind="U", reconstructions=False):
    """A table with encode's columns (docs/encode.md), NaN where encode writes NaN."""
    z = rng.uniform(0.0, 0.3, n)                                          # (N,)
    nan_some = np.where(rng.random(n) < 0.3, np.nan, rng.gamma(2.0, size=n))   # (N,) RCHI2, OUTLIER
    columns = {"PLATE": rng.integers(266, 3000, n), "MJD": rng.integers(51000, 56000, n),
               "FIBERID": rng.integers(1, 1000, n), "Z": z,
               "CLASS": np.array(["GALAXY", "QSO", "STAR"])[rng.integers(0, 3, n)],
               "LABEL": np.array(["STARFORM", "AGN", "", "BROADLINE"])[rng.integers(0, 4, n)],
               "MU": rng.standard_normal((n, 6)).astype(np.float32),
               "LOGVAR": rng.standard_normal((n, 6)).astype(np.float32), "RCHI2": nan_some,
               "SN_MEDIAN": rng.uniform(1, 50, n), "GOOD_FRAC": rng.uniform(0.5, 1, n),
               "INFILL_FRAC": rng.uniform(0, 0.5, n), "OUTLIER": nan_some[::-1].copy(),
               "SOURCE": np.array([f"/survey/shard-{i % 3:05d}.fits" for i in range(n)], source_kind),
               "ROW": np.arange(n)}
    if reconstructions:
        d = len(REST_WAVE)
        columns.update(FLUX=rng.standard_normal((n, d)).astype(np.float32), WEIGHT=np.ones((n, d), np.float32),
                       RECON=rng.standard_normal((n, d)).astype(np.float32))
    return Table(columns)


SKIPPED = [("/raw/broken.fits", "unreadable file"), ("/raw/a b.fits", "no good pixels")]


@pytest.mark.parametrize("n, source_kind, skipped, reconstructions",
                         [(9, "U", SKIPPED, False), (9, "S", [], False), (0, "U", SKIPPED, False),
                          (0, "U", [], False), (3, "U", SKIPPED[:1], True)])
def test_latents_file_has_the_bytes_astropy_writes(tmp_path, n, source_kind, skipped, reconstructions):
    table = encode_table(n, np.random.default_rng(n), source_kind, reconstructions)
    keywords = {"MODEL": "/runs/run", "INFILL": "pca"}
    write_latents(tmp_path / "fast.fits", table, skipped, keywords)
    write_latents_astropy(tmp_path / "astropy.fits", table, skipped, keywords)
    assert (tmp_path / "fast.fits").read_bytes() == (tmp_path / "astropy.fits").read_bytes()
    with fits.open(tmp_path / "fast.fits") as hdul:                      # astropy reads it back
        assert hdul[0].header["NSPEC"] == n and hdul[0].header["NSKIP"] == len(skipped)
        latents = hdul["LATENTS"].data
        np.testing.assert_array_equal(latents["MU"], table["MU"])
        np.testing.assert_array_equal(latents["OUTLIER"], table["OUTLIER"])       # NaN where NaN
        assert list(latents["SOURCE"]) == list(np.asarray(table["SOURCE"]).astype(str))
        assert [tuple(r) for r in hdul["SKIPPED"].data] == skipped
        if reconstructions:
            np.testing.assert_array_equal(hdul["RECON"].data, table["RECON"])
            np.testing.assert_array_equal(hdul["WAVE"].data, REST_WAVE)
