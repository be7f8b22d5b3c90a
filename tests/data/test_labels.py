"""Class labels: Balmer S/N cut, Kewley et al. 2001 line, pipeline classes."""
import numpy as np

from npvae.data.labels import classify, kewley2001_nii, line_columns
from tests.data.conftest import make_lines


def test_kewley_line_values():
    assert kewley2001_nii(0.0) == np.float64(0.61 / -0.47 + 1.19)
    assert abs(kewley2001_nii(-1.0) - (0.61 / -1.47 + 1.19)) < 1e-12


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
