"""Latent-space analyses of a trained VAE (paper Sections 3.2 to 3.4); see docs/analysis.md.

Everything works on arrays and callables (``encode(X) -> (mu, logvar)``, ``decode(Z) -> X``),
so any encoder and decoder plug in.
"""
from npvae.analysis.axes import LatentAxes, fit_latent_axes, resolve_direction
from npvae.analysis.noise import (NoiseSensitivity, SnCoverage, add_noise, added_noise_sigma, coverage_by_sn,
                                  noise_sensitivity, spectrum_sn)
from npvae.analysis.outliers import (chi2_scores, lof_scores, outlier_precision, precision_at,
                                     roc_auc, top_outlier_table, top_outliers)
from npvae.analysis.separation import (TruthCorrelations, compare_separation, knn_separation,
                                       truth_correlations)
from npvae.analysis.tracks import TRACK_PRESETS, Track, decode_track, latent_track, preset_track
from npvae.analysis.traversals import axis_traversals, decode_traversals

__all__ = ["LatentAxes", "fit_latent_axes", "resolve_direction",
           "NoiseSensitivity", "added_noise_sigma", "noise_sensitivity", "SnCoverage", "add_noise",
           "coverage_by_sn", "spectrum_sn",
           "chi2_scores", "lof_scores", "outlier_precision", "precision_at", "roc_auc",
           "top_outliers", "top_outlier_table",
           "TruthCorrelations", "compare_separation", "knn_separation", "truth_correlations",
           "TRACK_PRESETS", "Track", "decode_track", "latent_track", "preset_track",
           "axis_traversals", "decode_traversals"]
