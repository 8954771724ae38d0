"""A⁺: the standard MoCo v2 colour pipeline or AutoAugment, chosen at random per view
(Revisiting-Contrastive Sec. 4.2 and suppl. A.4)."""
from typing import List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import AutoAugment

from densepre.registry import TRANSFORMS
from .views import WARPED_KEY, _effect, _leaves, _type_name

__all__ = ['APlusAugment']


@TRANSFORMS.register_module()
class APlusAugment(BaseTransform):
    """With probability ``prob`` apply mmpretrain's ``AutoAugment(policies)``, otherwise the
    ``standard`` transforms (MoCo v2: colour jitter, grayscale, blur).

    Revisiting-Contrastive applies it to the positives only (the anchor / key keeps the default
    augmentations); ``prob=0.5`` with the ImageNet policy is A⁺, ``prob=1`` is "AutoAugment only"
    of Table 7. Put it after the crop and before the flip of a geometry-tracked view.

    Geometry: the ImageNet policy contains ``Rotate``, ``Shear`` and ``Translate`` (about the
    view centre, same size, padded). The view geometry recorded by ``GeoMultiView`` stays the
    crop box and flip, which is what MoCo-style global losses and the constrained crops use; but
    when one of these ops actually ran on a view (its sub-policy was drawn and its own ``prob``
    fired), the view's pixels are no longer where the box says, so the view is flagged
    ``FLAG_WARPED`` (``results['view_warped_by']`` names the ops) and the correspondence
    functions (:mod:`densepre.models.utils.correspondence`) refuse it, naming the view.

    Args:
        standard (list[dict]): the default per-view pixel transforms; only transforms that do
            not move pixels are accepted.
        policies (str | list): ``AutoAugment`` policies (``'imagenet'`` = the ImageNet policy
            of Cubuk et al.).
        prob (float): probability of AutoAugment. Defaults to 0.5.
        hparams (dict, optional): ``AutoAugment`` hyper-parameters (mmpretrain default
            ``pad_val=128``).
    """

    view_geometry_effect = 'marks_warp'

    def __init__(self,
                 standard: Sequence[Union[dict, BaseTransform]],
                 policies: Union[str, List] = 'imagenet',
                 prob: float = 0.5,
                 hparams: Optional[dict] = None) -> None:
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'APlusAugment prob must be in [0, 1], got {prob}')
        moving = [_type_name(t) for t in _leaves(standard) if _effect(t) != 'none']
        if moving:
            raise ValueError(f'APlusAugment standard= must only change pixel values; {moving} '
                             'move pixels (put crops and flips outside APlusAugment)')
        self.prob = float(prob)
        self.standard = Compose(list(standard))
        kwargs = {} if hparams is None else dict(hparams=hparams)
        self.autoaugment = AutoAugment(policies=policies, **kwargs)
        # per sub-policy: which of its ops move pixels (mmpretrain Rotate / Shear / Translate)
        self._moving = [[_effect(t) != 'none' for t in sub.transforms]
                        for sub in self.autoaugment.transforms]

    @cache_randomness
    def use_autoaugment(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> Optional[dict]:
        if not self.use_autoaugment():
            return self.standard(results)
        # AutoAugment.transform (mmcv RandomChoice) op by op, to see which moving op ran: the
        # mmpretrain ops return their input dict untouched when their own prob does not fire
        idx = self.autoaugment.random_pipeline_index()
        moved = []
        for op, moving in zip(self.autoaugment.transforms[idx].transforms, self._moving[idx]):
            img = results['img']
            results = op(results)
            if results is None:
                return None
            if moving and results['img'] is not img:
                moved.append(_type_name(op))
        if moved:
            results[WARPED_KEY] = 'APlusAugment: AutoAugment ' + ' + '.join(moved)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, standard={self.standard}, '
                f'autoaugment={self.autoaugment})')
