"""Class labels: Balmer S/N cut, Kewley et al. 2001 line, pipeline classes."""
import numpy as np
import pytest

from npvae.data.labels import classify, kewley2001_nii, line_columns
from tests.data.conftest import make_lines


def test_kewley_line_at_published_landmarks():
    """Kewley et al. (2001, ApJ 556, 121) eq. 5, log([O III]/Hb) = 0.61 / (log([N II]/Ha) - 0.47)
    + 1.19: values read off it by hand (to 3 decimals), its asymptotes (flat at 1.19 far left,
    vertical at 0.47) and its zero at 0.47 - 0.61/1.19 = -0.043."""
    by_hand = {-1.5: 0.880, -1.0: 0.775, -0.5: 0.561, 0.0: -0.108, 0.3: -2.398}
    for x, y in by_hand.items():
        assert kewley2001_nii(x) == pytest.approx(y, abs=1e-3), x
    assert kewley2001_nii(-1e6) == pytest.approx(1.19, abs=1e-5)
    assert kewley2001_nii(0.47 - 1e-9) < -1e8
    assert kewley2001_nii(-0.043) == pytest.approx(0.0, abs=2e-3)


def test_classify_each_branch():
    cls = ["GALAXY", "GALAXY", "GALAXY", "GALAXY", "QSO", "STAR", "GALAXY"]
    ha = [100, 100, 100, 10, 100, 100, 100]
    ha_err = [5, 5, 5, 5, 5, 5, -1]          # 4th: H-alpha at 2 sigma; 7th: not measured
    hb = [30, 30, 30, 30, 30, 30, 30]
    hb_err = [5, 5, 5, 5, 5, 5, 5]
    nii = [30, 300, 0, 30, 30, 30, 30]       # log NII/Ha = -0.52, +0.48 (right of asymptote), -inf
    oiii = [20, 20, 300, 20, 20, 20, 20]     # log OIII/Hb = -0.18, -0.18, +1.0
    label, x, y = classify(cls, ha, ha_err, hb, hb_err, nii, oiii)
    assert list(label) == ["emission", "nlagn", "emission", "quiescent", "blagn", "other", "quiescent"]
    assert np.isclose(x[0], np.log10(0.3)) and np.isnan(x[2]) and np.isclose(y[2], 1.0)
    # above the curve at moderate NII/Ha -> nlagn
    label, _, _ = classify(["GALAXY"], [100], [5], [30], [5], [50], [300])
    assert label[0] == "nlagn"


def test_line_columns_find_sdss_names_and_flag_missing_lines():
    cols = line_columns(make_lines(ha=(123.0, 4.0)))
    assert cols["HA_AREA"] == 123.0 and cols["HA_AREA_ERR"] == 4.0 and cols["OIII_AREA"] == 20.0
    empty = line_columns(make_lines()[:1])
    assert empty["HB_AREA"] == 0.0 and empty["HB_AREA_ERR"] == -1.0
