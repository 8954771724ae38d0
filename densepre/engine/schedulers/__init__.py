from .linear_warmup import LinearWarmupLR
from .warmup_cosine import LinearWarmupCosineLR, LinearWarmupCosineParamScheduler

__all__ = ['LinearWarmupLR', 'LinearWarmupCosineLR', 'LinearWarmupCosineParamScheduler']
