"""SDSS data path: query, download, readers, preprocessing, dataset file. Docs: docs/data.md."""
from .dataset import Dataset, load_dataset, write_dataset
from .download import download_spectra, fetch_sdss
from .files import preprocess_files
from .preprocess import REST_LOGLAM, REST_WAVE, PreprocessResult, preprocess
from .readers import (read_spec_lite, read_spectrum, read_spspec_dr7, write_spec_lite,
                      write_spspec_dr7)
from .record import LINE_DTYPE, Spectrum

__all__ = ["Dataset", "load_dataset", "write_dataset", "download_spectra", "fetch_sdss",
           "preprocess_files", "REST_LOGLAM", "REST_WAVE",
           "PreprocessResult", "preprocess", "read_spec_lite", "read_spectrum", "read_spspec_dr7",
           "write_spec_lite", "write_spspec_dr7", "LINE_DTYPE", "Spectrum"]
