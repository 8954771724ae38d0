"""Optimizer constructor: EMA teachers left out, one rule for biases and norm parameters."""
from typing import Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from densepre.models.utils.ema import EMATeacher
from densepre.registry import OPTIM_WRAPPER_CONSTRUCTORS

NORMS = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SkipEMAOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (paramwise lr / decay rules) that skips EMA copies and
    can give biases and norm parameters their own options.

    * Target / key networks (:class:`EMATeacher`: BYOL / LEWEL_B ``target_net``, MoCo / LEWEL_M
      ``encoder_k``) are updated by EMA, never by the optimizer; MMEngine's constructor would
      log one "skipped since its requires_grad=False" warning per tensor.
    * ``paramwise_cfg.bias_and_norm_cfg`` (dict): options set on the parameter group of every
      bias and every parameter of a norm layer (BN, SyncBN, GN, LN, IN), *after* all other
      paramwise rules — so a ``custom_keys`` match cannot undo it. E.g. the LARS recipe of
      BYOL / LEWEL's release, "no weight decay and no LARS adaptation for BN and biases"::

          paramwise_cfg=dict(bias_and_norm_cfg=dict(weight_decay=0., lars_exclude=True))
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        self.bias_and_norm_cfg = paramwise_cfg.pop('bias_and_norm_cfg', None)
        if self.bias_and_norm_cfg is not None and not isinstance(self.bias_and_norm_cfg, dict):
            raise TypeError('paramwise_cfg.bias_and_norm_cfg must be a dict of parameter-group '
                            f'options, got {self.bias_and_norm_cfg!r}')
        if self.bias_and_norm_cfg is not None and not paramwise_cfg:
            paramwise_cfg = dict(custom_keys={})  # one group per parameter
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params, module, prefix='', is_dcn_module=None) -> None:
        if isinstance(module, EMATeacher):
            return
        super().add_params(params, module, prefix=prefix, is_dcn_module=is_dcn_module)
        if prefix == '' and self.bias_and_norm_cfg:  # the top call: every group exists now
            special = {id(p) for m in module.modules() if not isinstance(m, EMATeacher)
                       for n, p in m.named_parameters(recurse=False)
                       if n == 'bias' or isinstance(m, NORMS)}
            for group in params:
                if any(id(p) in special for p in group['params']):
                    if len(group['params']) != 1:
                        raise RuntimeError('bias_and_norm_cfg needs one group per parameter')
                    group.update(self.bias_and_norm_cfg)
