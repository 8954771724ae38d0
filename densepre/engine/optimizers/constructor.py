"""Optimizer constructor that leaves momentum / EMA encoders out of the parameter groups."""
from mmengine.model import BaseAveragedModel
from mmengine.optim import DefaultOptimWrapperConstructor

from densepre.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SkipEMAOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (paramwise lr / decay rules) that skips EMA copies.

    Target / key networks (MoCo's ``encoder_k``, BYOL's ``target_net``, LEWEL's
    ``target_aligned``) are updated by EMA, never by the optimizer. MMEngine's constructor would
    visit each of their parameters and log one "skipped since its requires_grad=False" warning
    per tensor (hundreds per run with ``paramwise_cfg``).
    """

    def add_params(self, params, module, prefix='', is_dcn_module=None) -> None:
        if isinstance(module, BaseAveragedModel):
            return
        super().add_params(params, module, prefix=prefix, is_dcn_module=is_dcn_module)
