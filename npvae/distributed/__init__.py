"""Work spread over shards with Dask: the engines (in-process, local cluster, existing cluster)
and the distributed drivers (sharded synthetic survey, sharded preprocessing of raw files). The per-shard functions are NumPy-level
and live in :mod:`npvae.data` and :mod:`npvae.synthetic`; this package only maps them. docs/scale.md."""
from .engines import SCHEDULER_HELP, check_scheduler, open_engine
from .preprocess import open_preprocess_folder, preprocess_plan, preprocess_shards
from .synth import open_synth_folder, synth_shards

__all__ = ["open_engine", "check_scheduler", "SCHEDULER_HELP", "open_synth_folder", "synth_shards",
           "preprocess_plan", "open_preprocess_folder", "preprocess_shards"]
