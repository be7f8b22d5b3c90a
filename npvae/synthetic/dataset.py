"""A preprocessed synthetic dataset in one call: generate, preprocess, write, load.

This is what ``npvae synth`` and the ``npvae reproduce`` pipeline use. docs/synthetic.md.
"""
import tempfile
from pathlib import Path

from ..utils import as_generator

__all__ = ["make_dataset"]


def make_dataset(n, rng=None, path=None, fractions=None, raw_dir=None, verbose=False, **preprocess_options):
    """Generate ``n`` spectra, preprocess them and return the loaded Dataset.

    Parameters
    ----------
    n : int
        Number of spectra to generate (a few per thousand may be skipped by the cuts).
    rng : Generator, int or None
        One generator drives the survey and the preprocessing (train/valid split, infill).
    path : str or Path, optional
        Where to write the dataset FITS file; a temporary file is used (and deleted after
        loading into memory) when None.
    fractions : dict, optional
        Class fractions, see :func:`npvae.synthetic.generate`.
    raw_dir : str or Path, optional
        Also write every raw spectrum as a spec-lite FITS file there.
    **preprocess_options
        Passed to :func:`npvae.data.preprocess.preprocess` (e.g. ``sn_cap``, ``infill``).

    Returns
    -------
    npvae.data.dataset.Dataset
    """
    from ..data.dataset import load_dataset, write_dataset
    from ..data.preprocess import preprocess
    from .survey import generate

    rng = as_generator(rng)
    records = generate(n, rng=rng, fractions=fractions, verbose=verbose)
    if raw_dir is not None:
        write_raw(records, raw_dir, verbose=verbose)
    res = preprocess(records, rng=rng, verbose=verbose, **preprocess_options)
    meta = {"source": "npvae.synthetic", "n_generated": int(n), "n_skipped": len(res.skipped),
            "fractions": fractions or "default"}
    if path is not None:
        write_dataset(path, res.flux, res.weight, res.mask, res.catalog, meta=meta)
        return load_dataset(path)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "synthetic.fits"
        write_dataset(tmp_path, res.flux, res.weight, res.mask, res.catalog, meta=meta)
        return load_dataset(tmp_path, memmap=False)


def write_raw(records, folder, verbose=False):
    """Write each record as ``folder/spec-PLATE-MJD-FIBER.fits`` (spec-lite format)."""
    from ..data.readers import write_spec_lite
    from ..utils import progress

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for rec in progress(records, desc="spec-lite", verbose=verbose, unit="file"):
        write_spec_lite(folder / f"{rec.name}.fits", rec)
    return folder
