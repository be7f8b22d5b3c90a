"""The residual atlas figure: normalised residuals of genuine and synthetic spectra by rest wavelength.

Top panel: the 16-84% band and median of (x - xhat)/sigma over the high-S/N synthetic
spectra (what a well-matched spectrum looks like: a flat band around 0). One panel per
genuine spectrum below: its residual, raw and smoothed, with the lines that matter marked.
Doc: docs/synthetic.md. Returns a matplotlib Figure (Agg) and never shows it.

Shapes: N spectra, D pixels.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["ATLAS_LINES", "plot_residual_atlas"]

# rest wavelengths (A) marked in every panel
ATLAS_LINES = {"[O II]": 3728, "Ca H+K": 3950, "Hd": 4102, "G": 4300, "Hb": 4862, "[O III]": 5008,
               "Mg b": 5175, "Fe": 5300, "Na D": 5893, "Ha+[N II]": 6565, "[S II]": 6725}


def _smooth(r, width=7):
    """Running mean over ``width`` pixels ignoring NaN.  (D,) -> (D,)."""
    good = np.isfinite(r)
    k = np.ones(width)
    num = np.convolve(np.where(good, r, 0.0), k, mode="same")
    den = np.convolve(good.astype(float), k, mode="same")
    return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def plot_residual_atlas(wave, synth_stack, genuine, title=""):
    """Draw the atlas.

    Parameters
    ----------
    wave : (D,) rest wavelength, Angstrom.
    synth_stack : dict from :func:`npvae.analysis.residuals.stack_residuals` of the synthetic spectra.
    genuine : list of (label, residual (D,), reduced chi^2).
    title : suptitle.
    """
    rows = 1 + len(genuine)
    fig, axes = plt.subplots(rows, 1, figsize=(12, 2.1 * rows + 0.6), sharex=True, squeeze=False)
    axes = axes[:, 0]
    lo, mid, hi = synth_stack["quantiles"]
    axes[0].fill_between(wave, lo, hi, color="tab:blue", alpha=0.3, lw=0, label="synthetic 16-84%")
    axes[0].plot(wave, mid, color="tab:blue", lw=0.7, label="synthetic median")
    axes[0].set_title("high-S/N synthetic validation spectra", fontsize=9)
    for ax, (label, resid, rchi2) in zip(axes[1:], genuine):
        ax.plot(wave, resid, color="0.6", lw=0.4)
        ax.plot(wave, _smooth(resid), color="k", lw=0.9)
        ax.set_title(f"{label}: reduced chi$^2$ = {rchi2:.2f}", fontsize=9)
    for ax in axes:
        ax.axhline(0, color="tab:red", lw=0.5)
        ax.set_ylim(-6, 6)
        ax.set_ylabel("(data - model) / $\\sigma$", fontsize=8)
        for name, lam in ATLAS_LINES.items():
            ax.axvline(lam, color="tab:green", lw=0.4, alpha=0.6)
    for name, lam in ATLAS_LINES.items():
        axes[0].text(lam, 5.2, name, fontsize=6, rotation=90, va="top", ha="right", color="tab:green")
    axes[0].legend(fontsize=7, loc="lower left")
    axes[-1].set_xlabel("rest wavelength [A]")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
