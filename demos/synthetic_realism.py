"""Realism of the synthetic SDSS-like survey (issue 5, item 8).

What the reader sees: top row, one synthetic spectrum of each class (quiescent, emission-line,
narrow-line AGN, broad-line AGN) in the observed frame with its noise; middle row, the BPT
diagram from the *measured* lines with the Kewley (2001) line, D4000 versus H-delta_A (old
galaxies at high D4000 and weak H-delta, post-starbursts at strong H-delta), and the median
pixel S/N and redshift histograms; bottom row, the genuine SDSS DR18 spectra shipped with ppxf
(NGC 3522, an early-type galaxy; NGC 3073, a star-forming dwarf) next to the closest synthetic
spectra (least chi^2 after scaling, in the rest frame). Runs in well under a minute.

Usage: python demos/synthetic_realism.py [--n 3000] [--out synthetic_realism.png]
"""
import argparse
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt                                                    # noqa: E402
import numpy as np                                                                 # noqa: E402

from npvae.data.labels import classify, kewley2001_nii, line_columns              # noqa: E402
from npvae.synthetic import generate                                               # noqa: E402

COLORS = {"quiescent": "tab:red", "emission": "tab:blue", "nlagn": "tab:green", "blagn": "tab:purple"}


def rest_spectrum(rec, wave):
    """Flux interpolated onto rest wavelengths ``wave`` (NaN where no data)."""
    w = 10 ** rec.loglam / (1 + rec.z)
    f = np.where(rec.ivar > 0, rec.flux, np.nan)
    return np.interp(wave, w, f, left=np.nan, right=np.nan)


def indices(rec):
    """D4000 (Balogh 1999 narrow, in f_nu) and H-delta_A (Worthey & Ottaviani 1997) from the rest frame."""
    w = 10 ** rec.loglam / (1 + rec.z)
    f = np.where(rec.ivar > 0, rec.flux, np.nan)
    band = lambda lo, hi: np.nanmean(f[(w > lo) & (w < hi)] * w[(w > lo) & (w < hi)] ** 2)
    d4000 = band(4000, 4100) / band(3850, 3950)
    blue, red = np.nanmean(f[(w > 4042) & (w < 4064)]), np.nanmean(f[(w > 4129) & (w < 4162)])
    inside = (w > 4084) & (w < 4123)
    cont = blue + (red - blue) * (w[inside] - 4053) / (4145.5 - 4053)
    hda = np.nansum((1 - f[inside] / cont) * np.gradient(w)[inside])
    return d4000, hda


def sdss_file(name):
    import ppxf
    return os.path.join(os.path.dirname(ppxf.__file__), "spectra", name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "synthetic_realism.png"))
    args = parser.parse_args(argv)
    recs = generate(args.n, rng=args.seed)
    cols = [line_columns(r.lines) for r in recs]
    g = {k: np.array([c[k] for c in cols]) for k in cols[0]}
    label, x, y = classify(np.array([r.cls for r in recs]), g["HA_AREA"], g["HA_AREA_ERR"], g["HB_AREA"],
                           g["HB_AREA_ERR"], g["NII_AREA"], g["OIII_AREA"])
    sn = np.array([r.meta["columns"]["TRUE_SN"] for r in recs])
    odd = np.array([r.meta["columns"]["ODDITY"] for r in recs])

    fig = plt.figure(figsize=(18, 13))
    grid = fig.add_gridspec(3, 4, hspace=0.35, wspace=0.25)
    for j, k in enumerate(COLORS):
        ax = fig.add_subplot(grid[0, j])
        pick = np.flatnonzero((label == k) & (odd == "") & (sn > 12))
        r = recs[pick[0]] if pick.size else recs[0]
        wave = 10 ** r.loglam
        ax.plot(wave, r.flux, lw=0.4, color=COLORS[k])
        ax.fill_between(wave, -1 / np.sqrt(np.maximum(r.ivar, 1e-9)), 1 / np.sqrt(np.maximum(r.ivar, 1e-9)),
                        color="0.6", lw=0)
        top = np.nanpercentile(r.flux, 99.7)
        ax.set_ylim(-0.1 * top, 1.15 * top)
        ax.set_title(f"{k}: z={r.z:.3f}, S/N={r.meta['columns']['TRUE_SN']:.0f}")
        ax.set_xlabel("observed wavelength [A]")
    ax0 = fig.axes[0]
    ax0.set_ylabel("flux [1e-17 erg/s/cm$^2$/A]")

    ax = fig.add_subplot(grid[1, 0])
    for k in ("emission", "nlagn"):
        ok = (label == k) & np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=3, color=COLORS[k], label=k, alpha=0.6)
    xx = np.linspace(-2, 0.4, 200)
    ax.plot(xx, kewley2001_nii(xx), "k-", lw=1, label="Kewley 2001")
    ax.set_xlim(-2, 0.7), ax.set_ylim(-1.3, 1.5)
    ax.set_xlabel("log [N II] 6583 / H$\\alpha$ (measured)"), ax.set_ylabel("log [O III] 5007 / H$\\beta$")
    ax.legend(fontsize=8), ax.set_title("BPT")

    ax = fig.add_subplot(grid[1, 1])
    galaxies = np.flatnonzero((label != "blagn") & (odd == "") & (sn > 8))[:1500]
    dh = np.array([indices(recs[i]) for i in galaxies])
    for k in ("quiescent", "emission", "nlagn"):
        m = label[galaxies] == k
        ax.scatter(dh[m, 0], dh[m, 1], s=3, color=COLORS[k], alpha=0.6, label=k)
    ax.set_xlim(0.9, 2.4), ax.set_ylim(-6, 10)
    ax.set_xlabel("D$_n$4000"), ax.set_ylabel("H$\\delta_A$ [A]"), ax.legend(fontsize=8)
    ax.set_title("D4000 vs H$\\delta_A$")

    ax = fig.add_subplot(grid[1, 2])
    ax.hist(sn[odd == ""], bins=np.geomspace(4, 100, 40), color="0.4")
    ax.set_xscale("log"), ax.set_xlabel("median pixel S/N (observed pixels)")
    ax.set_title(f"S/N: median {np.median(sn[odd == '']):.1f}")
    ax = fig.add_subplot(grid[1, 3])
    ax.hist([r.z for r in recs], bins=36, range=(0, 0.36), color="0.4")
    ax.set_xlabel("redshift"), ax.set_title("redshift")

    from npvae.data.readers import read_spectrum
    wave = np.linspace(3800, 7000, 2500)
    synth = np.array([rest_spectrum(recs[i], wave) for i in range(len(recs))])       # (N, K)
    for j, name in enumerate(["NGC3522_SDSS_DR18.fits", "NGC3073_SDSS_DR18.fits"]):
        real = read_spectrum(sdss_file(name))
        fr = rest_spectrum(real, wave)
        m = (np.isfinite(fr)[None, :] & np.isfinite(synth)).astype(float)          # (N, K) both have data
        s, f = np.nan_to_num(synth), np.nan_to_num(fr)
        a = ((m * s) @ f) / np.maximum((m * s * s).sum(1), 1e-30)                  # (N,) best scale
        chi = (m * (f[None, :] - a[:, None] * s) ** 2).sum(1) / np.maximum((m * f ** 2).sum(1), 1e-30)
        chi[(odd != "") | (m.mean(1) < 0.9)] = np.inf
        best = int(np.argmin(chi))
        ax = fig.add_subplot(grid[2, 2 * j:2 * j + 2])
        ax.plot(wave, fr, lw=0.6, color="k", label=f"SDSS {name[:7]} (z={real.z:.4f})")
        ax.plot(wave, a[best] * synth[best] - 0.25 * np.nanmedian(fr), lw=0.6, color="tab:orange",
                label=f"closest synthetic ({label[best]}, offset)")
        ax.set_xlabel("rest wavelength [A]"), ax.legend(fontsize=8)
        ax.set_title(f"real vs synthetic, relative residual rms {np.sqrt(chi[best]):.3f}")
    fig.suptitle(f"npvae synthetic SDSS-like survey: {len(recs)} spectra, seed {args.seed}")
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
