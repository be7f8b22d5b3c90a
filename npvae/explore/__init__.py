"""The interactive latent-space explorer: one self-contained HTML page that decodes anywhere.

:func:`write_explorer` encodes a dataset with a trained model and writes the page (scatter of
the latent means on the axes VAE 1..Z, spectra, the decoder in JavaScript). Doc: docs/explorer.md.
"""
from .build import resolve_source, run_dataset_path, run_model_path, write_explorer
from .gather import ExplorerData, gather
from .page import explorer_html, write_page

__all__ = ["write_explorer", "resolve_source", "run_dataset_path", "run_model_path", "gather",
           "ExplorerData", "explorer_html", "write_page"]
