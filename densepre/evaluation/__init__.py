"""Frozen-feature dense evaluations (no fine-tuning): DAVIS-2017 label propagation (J&F), semantic
segment retrieval, class activation maps and the VOC07 linear SVM; the tools live in
``tools/benchmarks/``. Registers the :class:`DavisJF` metric in ``densepre.registry.METRICS``."""
from .davis_metrics import (DavisJF, boundary_f_measure, evaluate_sequence, region_similarity,
                            summarize_objects)
from .frozen_backbone import FrozenBackbone, load_frozen_backbone
from .label_propagation import propagate_labels

__all__ = [
    'DavisJF', 'FrozenBackbone', 'boundary_f_measure', 'evaluate_sequence',
    'load_frozen_backbone', 'propagate_labels', 'region_similarity', 'summarize_objects'
]
