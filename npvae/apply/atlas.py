"""The residual atlas of a model: genuine spectra against synthetic ones, through ``encode_spectra``.

Encodes genuine spectrum files and synthetic spectra with the model's own preprocessing (what
``npvae encode`` runs), and returns the normalised residuals (data - reconstruction) / sigma
of the genuine ones, the stacked residuals of the high-S/N synthetic ones and the realism ratio
(:mod:`npvae.analysis.residuals`). docs/synthetic.md. Shapes: G genuine spectra, D pixels.
"""
import numpy as np

from ..analysis.residuals import normalised_residuals, realism_ratio, stack_residuals
from .spectra import encode_spectra

__all__ = ["HIGH_SN", "residual_atlas"]

HIGH_SN = 30.0               # synthetic spectra at least this S/N are the comparison


def residual_atlas(model, synthetic, files, high_sn=HIGH_SN, infill=None):
    """Residuals and reduced chi^2 of genuine ``files`` against ``synthetic`` spectra.

    Parameters
    ----------
    model : a trained model with its preprocessing recipe.
    synthetic : Dataset (or anything :func:`npvae.apply.encode_spectra` takes) of synthetic spectra.
    files : dict name -> path of genuine spectrum files.
    high_sn : synthetic spectra with SN_MEDIAN >= high_sn are the comparison (lowered to the 90th
        percentile of their S/N when none reaches it, as in a tiny test survey).

    Returns
    -------
    dict: names, rchi2 (G,), sn (G,), resid (G, D), synth_stack (:func:`stack_residuals`),
    synth_rchi2 (median of the comparison), n_high, high_sn (the threshold used), ratio.
    """
    names = list(files)
    real = encode_spectra(model, [files[k] for k in names], infill=infill, reconstructions=True)
    synth = encode_spectra(model, synthetic, infill=infill, reconstructions=True)
    sn = np.asarray(synth["SN_MEDIAN"])                                       # (N,)
    threshold = min(high_sn, float(np.quantile(sn, 0.9)))
    high = sn >= threshold
    resid = normalised_residuals(real["FLUX"], real["RECON"], real["WEIGHT"])               # (G, D)
    stack = stack_residuals(normalised_residuals(synth["FLUX"][high], synth["RECON"][high],
                                                 synth["WEIGHT"][high]))
    return {"names": names, "rchi2": np.asarray(real["RCHI2"]), "sn": np.asarray(real["SN_MEDIAN"]),
            "resid": resid, "synth_stack": stack, "synth_rchi2": float(np.median(synth["RCHI2"][high])),
            "n_high": int(high.sum()), "high_sn": threshold,
            "ratio": realism_ratio(real["RCHI2"], synth["RCHI2"], sn, threshold)}
