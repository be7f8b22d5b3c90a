"""The explorer page: one self-contained HTML file with the data, the decoder and the script inline.

The arrays travel as base64 strings of little-endian binary (float32, int32, uint8; the kept
spectra as float16), not as JSON lists of numbers, which keeps the file small and fast to
read. The decoder's weights (``dec1.W`` ... ``out.b``) and the mean spectrum are embedded so
that ``explorer.js`` can run the decoder in the page. Nothing is fetched at view time.

Shapes: N spectra, S kept spectra, D pixels, Z latent dimensions.
"""
import base64
import html
import json
from importlib import resources

import numpy as np

from .._version import __version__
from ..utils import atomic_write

__all__ = ["explorer_html", "write_page", "DENSITY_THRESHOLD", "MAIN_LINES"]

DENSITY_THRESHOLD = 200_000     # more points than this: a binned density view instead of points

# lines marked on the spectra: (label, rest-frame vacuum wavelength in Angstrom)
MAIN_LINES = [("[O II]", 3728.5), ("Ca K", 3934.8), ("Ca H", 3969.6), ("Hdelta", 4102.9),
              ("Hgamma", 4341.7), ("Hbeta", 4862.7), ("[O III]", 4960.3), ("[O III]", 5008.2),
              ("Mg b", 5176.7), ("Na D", 5895.6), ("[O I]", 6302.0), ("[N II]", 6549.9),
              ("Halpha", 6564.6), ("[N II]", 6585.3), ("[S II]", 6718.3), ("[S II]", 6732.7)]


def _packed(array, dtype):
    """{"dtype", "data"}: an array as base64 of its little-endian bytes ("<f4", "<i4", "|u1", "<f2")."""
    data = np.ascontiguousarray(np.asarray(array).astype(dtype)).tobytes()
    return {"dtype": np.dtype(dtype).str, "data": base64.b64encode(data).decode("ascii")}


def _decoder(model):
    """The decoder's layers dec1..decL and out (W (I, O) row-major, b (O,)), slope and mean (D,)."""
    names = [f"dec{i + 1}" for i in range(len(model.hidden))] + ["out"]
    layers = [{"name": name, "nIn": int(model.params[f"{name}.W"].shape[0]),
               "nOut": int(model.params[f"{name}.W"].shape[1]),
               "W": _packed(model.params[f"{name}.W"], "<f4"), "b": _packed(model.params[f"{name}.b"], "<f4")}
              for name in names]
    return {"layers": layers, "slope": float(model.slope), "activation": model.activation,
            "mean": _packed(model.mean_, "<f4")}


def _sigma(weight):
    """1-sigma errors 1/sqrt(w), infinite where w = 0 (a bad pixel).  (S, D)."""
    with np.errstate(divide="ignore"):
        return np.where(weight > 0, 1.0 / np.sqrt(np.maximum(weight, 1e-30)), np.inf)


def _payload(data, model, title, density_threshold):
    """The JSON-serialisable description of the page's data."""
    tracks = [{"name": t["name"], "points": list(t["points"]),
               "centroids": [[None if not np.isfinite(v) else float(v) for v in row] for row in t["centroids"]]}
              for t in data.tracks]
    return {
        "title": title, "version": __version__, "n": len(data), "nLatent": int(model.n_latent),
        "nPixels": int(model.n_features), "wave": _packed(data.wave, "<f4"),
        "decoder": _decoder(model),
        "axes": {"mean": _packed(data.axes.mean_, "<f8"), "components": _packed(data.axes.components_, "<f8"),
                 "explained": [float(v) for v in data.axes.explained_variance_ratio_]},
        "mu": _packed(data.mu, "<f4"),
        "ids": {name: _packed(v, "<i4") for name, v in data.ids.items()},
        "numeric": [{"name": k, "values": _packed(v, "<f4")} for k, v in data.numeric.items()],
        "categorical": [{"name": k, "codes": _packed(codes, "|u1"), "levels": levels}
                        for k, (codes, levels) in data.categorical.items()],
        "classColumn": data.class_column,
        "spectra": {"rows": _packed(data.rows, "<i4"), "flux": _packed(data.flux, "<f2"),
                    "sigma": _packed(_sigma(data.weight), "<f2")},
        "tracks": tracks, "outliers": [int(i) for i in data.outliers],
        "lines": MAIN_LINES, "densityThreshold": int(density_threshold),
    }


def _script_json(obj):
    """JSON safe inside a <script> element ('<' escaped, so no '</script>' can appear)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def explorer_html(data, model, title="npvae latent-space explorer", density_threshold=DENSITY_THRESHOLD):
    """The whole page as a string: template, style, data (JSON with base64 arrays) and script."""
    folder = resources.files(__package__)
    template = folder.joinpath("explorer.html").read_text(encoding="utf-8")
    script = folder.joinpath("explorer.js").read_text(encoding="utf-8")
    page = template.replace("{{TITLE}}", html.escape(title))
    page = page.replace("{{N_KEPT}}", str(len(data.rows))).replace("{{N}}", str(len(data)))
    page = page.replace("{{DATA}}", _script_json(_payload(data, model, title, density_threshold)))
    return page.replace("{{SCRIPT}}", script)


def write_page(path, data, model, **options):
    """Write :func:`explorer_html` to ``path`` atomically; returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(explorer_html(data, model, **options), encoding="utf-8")
    return path
