"""scikit-learn's estimator checks on the baselines and the models (docs/sklearn_checks.md).

The npvae estimators are not scikit-learn estimators (no get_params; weights are per pixel,
(N, D), not per sample), so each is run behind a thin adapter that builds it in ``fit`` and
forwards ``fit`` and ``transform`` without checking anything itself: the checks see npvae's
own validation. Only the checks listed in PASSING run here; the others do not apply (see the doc).
"""
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.estimator_checks import estimator_checks_generator

import npvae
from npvae.baselines.models import NMF, PCA, WeightedNMF, WeightedPCA

BUILD = {
    "PCA": lambda d, k: PCA(k), "WeightedPCA": lambda d, k: WeightedPCA(k, max_iter=20),
    "NMF": lambda d, k: NMF(k, max_iter=50, rng=0), "WeightedNMF": lambda d, k: WeightedNMF(k, max_iter=50, rng=0),
    "InfoVAE": lambda d, k: npvae.InfoVAE(d, (8,), k, lam=1.0, n_prior=20, dtype=np.float64),
    "Autoencoder": lambda d, k: npvae.Autoencoder(d, (8,), k, dtype=np.float64),
}
NEURAL = ("InfoVAE", "Autoencoder")

PASSING = """check_estimator_cloneable check_estimator_tags_renamed check_valid_tag_types
check_estimator_repr check_no_attributes_set_in_init check_fit_score_takes_y
check_estimators_overwrite_params check_dont_overwrite_parameters check_estimators_fit_returns_self
check_readonly_memmap_input check_estimators_unfitted check_do_not_raise_errors_in_init_or_set_params
check_mixin_order check_positive_only_tag_during_fit check_estimators_dtypes check_complex_data
check_dtype_object check_pipeline_consistency check_estimators_nan_inf check_estimators_pickle
check_f_contiguous_array_estimator check_transformer_data_not_an_array check_transformer_general
check_transformer_preserve_dtypes check_transformers_unfitted check_transformer_n_iter
check_parameters_default_constructible check_methods_sample_order_invariance
check_methods_subset_invariance check_fit2d_1sample check_fit2d_1feature check_get_params_invariance
check_set_params check_dict_unchanged check_fit_idempotent check_fit_check_is_fitted check_n_features_in
check_fit1d""".split()


class Adapter(TransformerMixin, BaseEstimator):
    """Builds the npvae estimator ``kind`` in fit; forwards fit and transform unchecked."""

    def __init__(self, kind="PCA", n_components=1):
        self.kind, self.n_components = kind, n_components

    def fit(self, X, y=None):
        shape = np.shape(np.asarray(X))
        self.est_ = BUILD[self.kind](shape[1] if len(shape) == 2 else 1, self.n_components)
        options = dict(max_epochs=2, batch_size=16, verbose=False) if self.kind in NEURAL else {}
        self.est_.fit(X, **options)
        self.n_features_in_ = self.est_.n_features if self.kind in NEURAL else self.est_.mean_.size
        return self

    def transform(self, X):
        if not hasattr(self, "est_"):                       # let the unfitted estimator object
            return BUILD[self.kind](4, self.n_components).transform(X)
        return self.est_.transform(X)


def _checks(kind):
    for estimator, check in estimator_checks_generator(Adapter(kind), legacy=True, mark="skip"):
        name = getattr(check, "func", check).__name__
        if name in PASSING:
            yield pytest.param(estimator, check, id=f"{kind}-{name}")


@pytest.mark.parametrize("estimator, check", [p for kind in BUILD for p in _checks(kind)])
def test_scikit_learn_check(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)
