"""Frozen-feature dense evaluations (no fine-tuning). Registers the :class:`DavisJF` metric in
``densepre.registry.METRICS``."""
from .davis_metrics import (DavisJF, boundary_f_measure, evaluate_sequence, region_similarity,
                            summarize_objects)

__all__ = [
    'DavisJF', 'boundary_f_measure', 'evaluate_sequence', 'region_similarity', 'summarize_objects'
]
