"""Tracks through the latent space and their decoded spectra (Portillo et al. 2020, Figures 9 to 13).

What the reader sees: ``fig09_tracks.png``, the cloud of latent means on VAE 1 vs VAE 2 and
VAE 1 vs VAE 5 coloured by class, with the paper's four tracks drawn over it (black points
S1-S5, E1-E4, P1-P5, A1-A5); and ``fig10_13_track_spectra.png``, four panels with the spectra
the decoder makes at the points of each track, offset, main lines labelled: the star formation
track (quiescent + emission-line galaxies binned along VAE 1, Fig. 10), the extreme emitters
(top percentiles of the emission-line galaxies along VAE 3 + VAE 4, Fig. 11), the
post-starburst track (quiescent galaxies along VAE 2, Fig. 12) and the active galaxy track
(AGN along VAE 5 - VAE 6, Fig. 13). A track bins the chosen spectra at percentile edges of
their projection on a direction and decodes each bin's latent centroid
(``npvae.analysis.preset_track``, ``decode_track``). The number of spectra per bin and two
line indicators per decoded spectrum (H-alpha emission equivalent width and the blue/red
continuum ratio) are printed.

What to look for: along S1 to S5 the continuum turns from red (old stars, Ca H+K, Mg b,
Na D absorption) to blue and the emission lines appear and grow ([O II], H-alpha, [O III]);
along A1 to A5 the Balmer lines strengthen and broaden. With a briefly trained model (the
cached demo run) the star formation track already shows the colour and line change; the
other tracks need a trained run (``--run``) to show the paper's distinctions.

Usage: python demos/fig09_13_tracks.py [--run DIR] [--out DIR]
"""
import time

import numpy as np
from matplotlib.figure import Figure

from _demo_run import demo_parser, run_from_args, save_png
from npvae.analysis import TRACK_PRESETS, decode_track, preset_track
from npvae.plots.latent import plot_offset_spectra, plot_track_projections
from npvae.plots.reconstruction import halpha_ew_proxy


def compute_tracks(mu, labels, axes):
    """{preset: Track} for the presets whose classes are present (others are reported)."""
    tracks = {}
    for preset in TRACK_PRESETS:
        try:
            tracks[preset] = preset_track(preset, mu, labels, axes)
        except Exception as err:                                   # e.g. no AGN in a tiny run
            print(f"track {preset} skipped: {err}")
    return tracks


def describe(wave, spectra, names, counts):
    """Print per point: spectra in the bin, H-alpha EW proxy and blue/red continuum ratio."""
    ew = halpha_ew_proxy(spectra, np.ones_like(spectra), wave)           # (B,)
    blue = spectra[:, (wave > 4000) & (wave < 4400)].mean(axis=1)        # (B,)
    red = spectra[:, (wave > 6000) & (wave < 6400)].mean(axis=1)         # (B,)
    for name, n, e, b, r in zip(names, counts, ew, blue, red):
        print(f"  {name:3s} {n:6d} spectra   H-alpha EW {e:7.1f} A   blue/red continuum {b / r:5.2f}")


def main(argv=None):
    parser = demo_parser(__doc__)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, gal, axes, mu, labels = run.latent_setup()                      # mu (N_gal, Z)
    tracks = compute_tracks(mu, labels, axes)

    spectra = {}
    for preset, track in tracks.items():
        spectra[preset] = decode_track(vae.decode, track.centroids)      # (B, D)
        spec = TRACK_PRESETS[preset]
        print(f"\n{preset}: classes {', '.join(spec['classes'])} along {spec['direction']}, "
              f"percentile edges {spec['percentile_edges']}")
        describe(run.wave, spectra[preset], track.point_names, track.counts)

    pairs = tuple(p for p in ((0, 1), (0, 4)) if max(p) < vae.n_latent)
    save_png(plot_track_projections(axes.transform(mu), labels, list(tracks.values()), axes, pairs=pairs),
             args.out, "fig09_tracks")
    fig = Figure(figsize=(16, 12))
    panels = fig.subplots(2, 2).ravel()
    for ax, (number, preset) in zip(panels, enumerate(TRACK_PRESETS, start=10)):
        if preset not in tracks:
            ax.set_visible(False)
            continue
        plot_offset_spectra(run.wave, spectra[preset], names=tracks[preset].point_names, ax=ax)
        ax.set_title(f"Fig. {number}: {preset.replace('_', ' ')} track", pad=34, fontsize=10)
    fig.tight_layout()
    save_png(fig, args.out, "fig10_13_track_spectra")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return tracks


if __name__ == "__main__":
    main()
