"""A⁺: the standard MoCo v2 colour pipeline or AutoAugment, chosen at random per view
(Revisiting-Contrastive Sec. 4.2 and suppl. A.4)."""
import math
from typing import List, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmpretrain.datasets.transforms import AutoAugment, Shear
from mmpretrain.datasets.transforms.auto_augment import AUTOAUG_POLICIES, merge_hparams
from PIL import Image

from densepre.registry import TRANSFORMS
from .views import WARPED_KEY, _effect, _leaves, _type_name

__all__ = ['APlusAugment', 'CentredShear']
SHEAR_ABOUT = ('corner', 'centre')


@TRANSFORMS.register_module()
class CentredShear(Shear):
    """mmpretrain's ``Shear`` (same arguments and randomness) about the image centre, as
    torchvision's ``affine`` on a PIL image shears (the Revisiting-Contrastive release's
    AutoAugment): the output pixel ``(x, y)`` samples the input at
    ``x + tan(m)·(y + ½ − H/2)`` (horizontal; pixel centres at ``+½``), so the centre row (odd
    ``H``) is unchanged. torchvision reads the magnitude ``m`` as a shear *angle* in radians:
    the shear factor is ``tan(m)`` (mmpretrain's ``Shear``: ``m``, about the top-left corner).
    Computed with Pillow's ``Image.transform`` (``interpolation`` 'nearest' / 'bilinear' /
    'bicubic'), filled with ``pad_val``."""

    PIL_MODES = {'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR,
                 'bicubic': Image.BICUBIC}

    def transform(self, results: dict) -> dict:
        if self.random_disable():
            return results
        magnitude = self.random_negative(
            self.magnitude if self.magnitude is not None else self.random_magnitude())
        if self.interpolation not in self.PIL_MODES:
            raise ValueError(f'CentredShear interpolation must be one of '
                             f'{tuple(self.PIL_MODES)}, got {self.interpolation!r}')
        img = results['img']
        h, w = img.shape[:2]
        t = math.tan(magnitude)
        if self.direction == 'horizontal':  # x_in = x + t·y − t·H/2 (PIL pixel-corner coords)
            data = (1., t, -t * h / 2, 0., 1., 0.)
        else:
            data = (1., 0., 0., t, 1., -t * w / 2)
        channels = 1 if img.ndim == 2 else img.shape[2]
        fill = self.pad_val if isinstance(self.pad_val, tuple) else (self.pad_val, ) * channels
        pil = Image.fromarray(np.ascontiguousarray(img.astype(np.uint8)))
        out = pil.transform((w, h), Image.AFFINE, data, resample=self.PIL_MODES[
            self.interpolation], fillcolor=fill[0] if channels == 1 else tuple(fill))
        results['img'] = np.asarray(out).reshape(img.shape).astype(img.dtype)
        return results


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
        hparams (dict, optional): ``AutoAugment`` hyper-parameters, set on every op that takes
            them and does not set them itself (mmpretrain's ops default to ``pad_val=128``; an
            int reaches ``Rotate``'s cv2 call as (128, 0, 0)). The authors' release fills with
            0 and shears with nearest neighbours: ``dict(pad_val=0, interpolation='nearest')``.
        shear_about (str): ``'corner'`` (mmpretrain's ``Shear``: about the top-left corner,
            factor = magnitude) or ``'centre'`` (:class:`CentredShear`, the release: about the
            image centre, factor tan(magnitude)). Defaults to ``'corner'``.
    """

    view_geometry_effect = 'marks_warp'

    def __init__(self,
                 standard: Sequence[Union[dict, BaseTransform]],
                 policies: Union[str, List] = 'imagenet',
                 prob: float = 0.5,
                 hparams: Optional[dict] = None,
                 shear_about: str = 'corner') -> None:
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'APlusAugment prob must be in [0, 1], got {prob}')
        if shear_about not in SHEAR_ABOUT:
            raise ValueError(f'APlusAugment shear_about must be one of {SHEAR_ABOUT}, got '
                             f'{shear_about!r}')
        moving = [_type_name(t) for t in _leaves(standard) if _effect(t) != 'none']
        if moving:
            raise ValueError(f'APlusAugment standard= must only change pixel values; {moving} '
                             'move pixels (put crops and flips outside APlusAugment)')
        self.prob = float(prob)
        self.standard = Compose(list(standard))
        kwargs = {}
        if hparams is not None:
            # mmpretrain 1.2's AutoAugment merges `hparams` into its `policies` attribute but
            # builds the ops from the unmerged policies (so they never take effect): merge here
            if isinstance(policies, str):
                if policies not in AUTOAUG_POLICIES:
                    raise ValueError(f'APlusAugment policies={policies!r}: expected one of '
                                     f'{sorted(AUTOAUG_POLICIES)} or a list of sub-policies')
                policies = AUTOAUG_POLICIES[policies]
            policies = [[merge_hparams(t, hparams) for t in sub] for sub in policies]
            kwargs = dict(hparams=hparams)
        self.autoaugment = AutoAugment(policies=policies, **kwargs)
        self.shear_about = shear_about
        if shear_about == 'centre':  # same ops, arguments and randomness; centred geometry
            for sub in self.autoaugment.transforms:
                for i, op in enumerate(sub.transforms):
                    if type(op) is Shear:
                        centred = CentredShear.__new__(CentredShear)
                        centred.__dict__.update(op.__dict__)
                        sub.transforms[i] = centred
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
        return (f'{type(self).__name__}(prob={self.prob}, shear_about={self.shear_about}, '
                f'standard={self.standard}, autoaugment={self.autoaugment})')
