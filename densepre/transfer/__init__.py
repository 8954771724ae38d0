from .checkpoint import (IncompleteLoadingError, extract_backbone, load_state_dict,
                         verify_complete_loading)
from .downstream import default_work_dir, run_benchmark
from .precise_bn import PreciseBNHook

__all__ = [
    'IncompleteLoadingError', 'extract_backbone', 'load_state_dict', 'verify_complete_loading',
    'default_work_dir', 'run_benchmark', 'PreciseBNHook'
]
