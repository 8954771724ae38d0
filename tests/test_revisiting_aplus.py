"""A⁺ (APlusAugment): per view, the MoCo v2 colour pipeline or mmpretrain's AutoAugment."""
import os.path as osp
import random

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.config import Config
from mmpretrain.datasets.transforms import AutoAugment

from densepre.datasets.transforms import APlusAugment
from densepre.registry import TRANSFORMS
from utils import REPO

COLOUR = [
    dict(type='RandomApply', transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                              saturation=0.4, hue=0.1)], prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=0.5),
]


def image(seed=0):
    return np.random.RandomState(seed).randint(0, 255, (40, 48, 3), np.uint8)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)


def run(t, img, seed):
    seed_all(seed)
    return t(dict(img=img.copy(), img_shape=img.shape[:2]))['img']


@pytest.mark.parametrize('prob', [0.0, 1.0])
def test_branches_are_the_standard_pipeline_and_mmpretrain_autoaugment(prob):
    aplus = TRANSFORMS.build(dict(type='APlusAugment', standard=COLOUR, prob=prob))
    reference = AutoAugment(policies='imagenet') if prob else Compose(COLOUR)
    img = image()
    for seed in range(20):
        got = run(aplus, img, seed)
        seed_all(seed)
        np.random.rand()  # the branch draw
        expected = reference(dict(img=img.copy(), img_shape=img.shape[:2]))['img']
        np.testing.assert_array_equal(got, expected)


def test_autoaugment_is_chosen_with_probability_prob():
    aplus = APlusAugment(standard=COLOUR, prob=0.5)
    calls = {'auto': 0, 'standard': 0}

    def count(name, fn):
        def wrapped(results):
            calls[name] += 1
            return fn(results)
        return wrapped

    aplus.autoaugment = count('auto', aplus.autoaugment)
    aplus.standard = count('standard', aplus.standard)
    np.random.seed(0)
    for _ in range(400):
        aplus(dict(img=image(), img_shape=(40, 48)))
    assert calls['auto'] + calls['standard'] == 400
    assert 160 < calls['auto'] < 240  # Binomial(400, 0.5): ±4 sigma


def test_refuses_pixel_moving_standard_transforms_and_bad_prob():
    with pytest.raises(ValueError, match='GeoRandomResizedCrop'):
        APlusAugment(standard=[dict(type='GeoRandomResizedCrop', scale=32)])
    with pytest.raises(ValueError, match='prob'):
        APlusAugment(standard=COLOUR, prob=1.5)


def test_shipped_aplus_pipeline_runs_on_positives_only():
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/revisiting/mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline[1:])
    mv = pipeline.transforms[0]
    kinds = [[type(t).__name__ for t in p.transforms] for p, _ in mv.views]
    img = np.random.RandomState(1).randint(0, 255, (200, 240, 3), np.uint8)
    np.random.seed(0)
    out = pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
    assert [tuple(v.shape) for v in out['inputs']] == [(3, 160, 160)] * 2 + [(3, 96, 96)] * 4
    assert [('APlusAugment' in k) for k in kinds] == [True, False, True, True, True, True]
