from .warmup_cosine import LinearWarmupCosineLR, LinearWarmupCosineParamScheduler

__all__ = ['LinearWarmupCosineLR', 'LinearWarmupCosineParamScheduler']
