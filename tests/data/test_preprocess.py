"""The preprocessing pipeline: grid, normalisation, weights, skips with reasons, split, labels."""
import numpy as np

from npvae import paper
from npvae.data.preprocess import NORM_WINDOW, REST_LOGLAM, REST_WAVE, preprocess
from npvae.data.readers import read_spectrum
from npvae.data.record import Spectrum
from tests.data.conftest import make_lines


def test_rest_grid_is_the_papers():
    assert REST_LOGLAM.shape == (1000,)
    assert REST_LOGLAM[0] == 3.53 and abs(REST_LOGLAM[-1] - (3.53 + 3.9e-4 * 999)) < 1e-12
    assert abs(REST_WAVE[0] - 3388.4) < 0.1 and abs(REST_WAVE[-1] - 8310.) < 1.0


def test_normalisation_weights_and_outputs(record_factory):
    rng = np.random.default_rng(10)
    recs = [record_factory(rng, z=z, fiber=i, sn=sn)
            for i, (z, sn) in enumerate([(0.02, 10), (0.15, 200), (0.36, 20), (0.3, 5)])]
    res = preprocess(recs, infill=False, verbose=False, sn_cap=50.0)
    assert res.flux.shape == res.weight.shape == res.mask.shape == (4, 1000)
    assert res.flux.dtype == np.float32 and res.mask.dtype == np.uint8 and not res.skipped
    win = (REST_WAVE >= NORM_WINDOW[0]) & (REST_WAVE <= NORM_WINDOW[1])
    good = res.mask == 0
    for i in range(4):
        assert abs(res.flux[i, win & good[i]].mean() - 1) < 1e-5
    assert (res.weight[res.mask == 1] == 0).all() and (res.weight[good] > 0).all()
    # the S/N cap: w <= sn_cap^2 everywhere, and the S/N 200 spectrum is capped near 50
    assert res.weight.max() <= 50.0 ** 2 * 1.0001
    assert res.catalog["SN_MEDIAN"][1] > 100 > res.catalog["SN_MEDIAN"][0]
    # a z = 0.36 spectrum reaches only to ~6770 A rest: the red end is masked
    assert res.mask[2, REST_WAVE > 6800].all()
    assert not res.mask[2, (REST_WAVE > 4000) & (REST_WAVE < 6500)].any()
    for col in ("PLATE", "MJD", "FIBERID", "Z", "CLASS", "LABEL", "SN_MEDIAN", "SPLIT",
                "LOG_NII_HA", "LOG_OIII_HB"):
        assert col in res.catalog.colnames


def test_bad_input_is_skipped_with_reasons(record_factory):
    rng = np.random.default_rng(11)
    good = record_factory(rng, fiber=0)
    nan = record_factory(rng, fiber=1)
    nan.flux[100] = np.nan
    neg = record_factory(rng, fiber=2)
    neg.ivar[50] = -1
    far = record_factory(rng, fiber=3, z=0.9)
    patchy = record_factory(rng, fiber=4)
    patchy.ivar[:2500] = 0
    short = record_factory(rng, fiber=5)
    short.flux = short.flux[:10]
    res = preprocess([good, nan, neg, far, patchy, short], infill=False, verbose=False)
    reasons = dict(res.skipped)
    assert len(res.flux) == 1 and list(res.catalog["FIBERID"]) == [0]
    assert reasons["synthetic-1"].startswith("non-finite flux")
    assert reasons["synthetic-2"].startswith("negative ivar")
    assert reasons["synthetic-3"].startswith("z out of the grid's reach")
    assert reasons["synthetic-4"].startswith("too little good coverage")
    assert reasons["synthetic-5"].startswith("bad arrays")
    assert "skipped 5" in res.summary()
    empty = preprocess([], verbose=False)
    assert empty.flux.shape == (0, 1000) and len(empty.catalog) == 0


def test_masks_from_and_mask_and_noise_spikes(record_factory):
    rng = np.random.default_rng(12)
    rec = record_factory(rng, z=0.0, sn=30)
    sky = np.argmin(np.abs(10 ** rec.loglam - 5577.0))
    rec.and_mask[sky - 3:sky + 4] = 1 << 23                     # BRIGHTSKY
    spike = np.argmin(np.abs(10 ** rec.loglam - 6000.0))
    rec.ivar[spike:spike + 4] /= 100.0                          # noise spike (sigma x 10)
    res = preprocess([rec], infill=False, verbose=False)
    for lam in (5577.0, 6000.0):
        assert res.mask[0, np.argmin(np.abs(REST_WAVE - lam))] == 1
    assert res.mask[0, np.argmin(np.abs(REST_WAVE - 5000.0))] == 0


def test_split_is_seeded_labels_and_meta_columns_are_kept(record_factory):
    rng = np.random.default_rng(13)
    recs = [record_factory(rng, fiber=i, meta={"columns": {"ODDITY": "" if i % 2 else "weird",
                                                           "TRUE_AGE": float(i)}},
                           cls="QSO" if i == 0 else "GALAXY",
                           lines=make_lines(ha=(100.0, 50.0)) if i == 1 else None)
            for i in range(40)]
    a = preprocess(recs, infill=True, verbose=False, rng=5)
    b = preprocess(recs, infill=True, verbose=False, rng=5)
    c = preprocess(recs, infill=True, verbose=False, rng=6)
    assert (a.catalog["SPLIT"] == "train").sum() == 30
    assert list(a.catalog["SPLIT"]) == list(b.catalog["SPLIT"]) != list(c.catalog["SPLIT"])
    assert list(a.catalog["LABEL"][:3]) == ["blagn", "quiescent", "emission"]
    assert a.catalog["ODDITY"][0] == "weird" and a.catalog["TRUE_AGE"][7] == 7.0
    assert np.isfinite(a.flux).all() and (a.weight[a.mask == 1] == 0).all()


def test_real_sdss_files_preprocess(real_files):
    recs = [read_spectrum(p) for p in real_files]
    res = preprocess(recs, infill=False, verbose=False)
    assert len(res.flux) == 2
    assert list(res.catalog["LABEL"]) == ["other", "quiescent"]      # a star; H-beta at 1.3 sigma
    # at z ~ 0.004 the blue end below ~3785 A rest is outside the observed range
    assert res.mask[:, REST_WAVE < 3770].all()
    assert (res.mask[:, REST_WAVE > 3820] == 0).mean() > 0.97
    assert 5 < res.catalog["SN_MEDIAN"][1] < 100


def _flat_record(sn, *, level=10.0, fiber=0):
    """A noiseless constant spectrum at z = 0 on exactly the rest grid, with pixel S/N ``sn``.

    Observed pixels = rest pixels, so the rebinning is the identity and the normalised flux is
    exactly 1: a rest pixel's S/N is the S/N the record was given (sn = inf: ivar = 1e30).
    """
    loglam = paper.rest_loglam()                                      # (M,)
    flux = np.full(loglam.size, level, np.float32)                    # (M,)
    ivar = np.full(loglam.size, 1e30 if np.isinf(sn) else (sn / level) ** 2, np.float32)
    return Spectrum(plate=1000, mjd=52000, fiber=fiber, z=0.0, cls="GALAXY", loglam=loglam,
                    flux=flux, ivar=ivar, and_mask=np.zeros(loglam.size, np.int32),
                    lines=make_lines(), source=f"flat-{fiber}", meta={})


def test_sn_cap_gives_noiseless_pixels_sn_50_and_noisy_pixels_their_own():
    """Paper Sec. 3: "an uncertainty floor is added to each good pixel that caps the maximum
    pixel S/N to 50". A floor adds its variance to the pixel's: 1/S/N^2 = 1/S/N_in^2 + 1/50^2."""
    sns = [np.inf, 1000.0, 50.0, 20.0, 5.0]
    res = preprocess([_flat_record(s, fiber=i) for i, s in enumerate(sns)],
                     infill=False, verbose=False)
    inner = slice(5, -5)                                              # away from the grid's ends
    assert not res.mask[:, inner].any()
    assert np.allclose(res.flux[:, inner], 1.0, rtol=1e-6)
    sn_out = res.flux[:, inner] * np.sqrt(res.weight[:, inner])       # (5, M')
    assert np.allclose(sn_out[0], paper.SN_CAP, rtol=1e-5)            # noiseless: exactly the cap
    for s, row in zip(sns[1:], sn_out[1:]):
        assert np.allclose(row, 1.0 / np.sqrt(1.0 / s ** 2 + 1.0 / paper.SN_CAP ** 2), rtol=1e-5), s
    assert np.allclose(sn_out[4], 5.0, rtol=0.01)                     # S/N 5 keeps its own S/N
    assert np.allclose(res.catalog["SN_MEDIAN"][1:], sns[1:], rtol=1e-5)   # before the cap
    uncapped = preprocess([_flat_record(20.0)], infill=False, verbose=False, sn_cap=None)
    assert np.allclose(uncapped.weight[0, inner], 20.0 ** 2, rtol=1e-5)


def test_weights_do_not_depend_on_the_flux_unit():
    """Flux x c and ivar / c^2 is the same spectrum in other units: the same normalised weights."""
    a = preprocess([_flat_record(20.0, level=10.0)], infill=False, verbose=False)
    b = preprocess([_flat_record(20.0, level=0.37)], infill=False, verbose=False)
    assert np.allclose(a.weight, b.weight, rtol=1e-5) and np.array_equal(a.mask, b.mask)
