"""``npvae reproduce``: the paper's results in one command and one report (see pipeline.py)."""
from .pipeline import PRESETS, reproduce

__all__ = ["reproduce", "PRESETS"]
