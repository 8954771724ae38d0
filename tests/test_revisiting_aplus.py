"""A⁺ (APlusAugment): per view, the MoCo v2 colour pipeline or mmpretrain's AutoAugment."""
import os.path as osp
import random

import numpy as np
import torch
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
        def wrapped(*args):
            calls[name] += 1
            return fn(*args)
        return wrapped

    aplus.autoaugment.random_pipeline_index = count('auto',
                                                    aplus.autoaugment.random_pipeline_index)
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


# ------------------------------------------------------------------ geometry of A+ views
def _geo_views(policies, n_views=3):
    """GeoMultiView: view 0 plain (the key), views 1.. through APlusAugment(prob=1, policies)."""
    crop = dict(type='GeoRandomResizedCrop', scale=32, crop_ratio_range=(0.3, 1.))
    aplus = dict(type='APlusAugment', standard=COLOUR, policies=policies, prob=1.0)
    return Compose([
        dict(type='GeoMultiView', views=[
            dict(num=1, name='key', transforms=[crop, dict(type='RandomFlip', prob=0.5)]),
            dict(num=n_views - 1, name='query',
                 transforms=[crop, aplus, dict(type='RandomFlip', prob=0.5)])]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups'])])


def _sample(pipeline, seed=0):
    np.random.seed(seed)
    img = np.random.randint(0, 255, (60, 80, 3), np.uint8)
    return pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))


@pytest.mark.parametrize('op,warped', [
    (dict(type='Rotate', angle=30., prob=1.), True),
    (dict(type='Shear', magnitude=0.3, prob=1.), True),
    (dict(type='Translate', magnitude=0.3, prob=1.), True),
    (dict(type='Rotate', angle=30., prob=0.), False),  # drawn but its own prob did not fire
    (dict(type='Posterize', bits=4, prob=1.), False),  # moves no pixel
])
def test_aplus_flags_exactly_the_views_whose_pixels_moved(op, warped):
    from densepre.models.utils.correspondence import FLAG_FALLBACK, FLAG_WARPED, has_flag
    geom = torch.as_tensor(_sample(_geo_views([[op]]))['data_samples'].view_geometry)
    assert has_flag(geom, FLAG_WARPED).tolist() == [False, warped, warped]
    assert not has_flag(geom, FLAG_FALLBACK).any()


def test_correspondence_ops_refuse_warped_views_naming_them():
    from densepre.models.utils import correspondence as corr
    from densepre.models.utils.multiview import count_fallback_crops
    rotate = _geo_views([[dict(type='Rotate', angle=30., prob=1.)]])
    samples = [_sample(rotate, s)['data_samples'] for s in range(2)]
    geom = corr.stack_geometries(samples)  # stacking is fine: global losses may use the views
    assert count_fallback_crops(samples) == 0  # warped is not a fallback
    ok, bad = geom[:, 0], geom[:, 1]
    corr.match_cells(ok, (4, 4), ok, (4, 4))  # the key views stay usable
    calls = {
        'view_to_image': lambda: corr.view_to_image(corr.cell_centers(2, 2), geom),
        'image_to_view': lambda: corr.image_to_view(torch.zeros(2, 3, 1, 2), geom),
        'cell_centers_in_image': lambda: corr.cell_centers_in_image(bad, (4, 4)),
        r'match_cells \(destination\)': lambda: corr.match_cells(ok, (4, 4), bad, (4, 4)),
        r'match_cells \(source\)': lambda: corr.match_cells(bad, (4, 4), ok, (4, 4)),
        r'cell_distances \(views b\)': lambda: corr.cell_distances(ok, (4, 4), bad, (4, 4)),
        'cell_diagonal': lambda: corr.cell_diagonal(bad, (4, 4)),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=name + r'.* flagged warped') as e:
            call()
        assert 'Rotate' in str(e.value)
    with pytest.raises(ValueError, match=r'4 view\(s\) at index \(0, 1\), \(0, 2\), \(1, 1\)'):
        corr.view_to_image(corr.cell_centers(2, 2), geom)


def test_flags_bits_fallback_and_warped_are_independent():
    from densepre.datasets import FLAG_FALLBACK, FLAG_WARPED, make_geometry
    from densepre.models.utils import correspondence as corr
    from densepre.models.utils.multiview import count_fallback_crops
    from mmpretrain.structures import DataSample
    assert (FLAG_FALLBACK, FLAG_WARPED) == (corr.FLAG_FALLBACK, corr.FLAG_WARPED)
    geoms = np.stack([make_geometry((0, 0, 8, 8), False, (8, 8), fallback=f, warped=w)
                      for f in (False, True) for w in (False, True)])
    assert geoms[:, 7].tolist() == [0, 2, 1, 3]
    assert corr.has_flag(torch.as_tensor(geoms), FLAG_WARPED).tolist() == [0, 1, 0, 1]
    sample = DataSample()
    sample.set_field(geoms, 'view_geometry')
    assert float(count_fallback_crops([sample])) == 2


def test_shipped_aplus_pipeline_flags_warped_positives_never_the_key():
    """Through the shipped A+ pipeline (ImageNet policy): some positives come out rotated /
    sheared and flagged, the key never; MoCo ignores the flag, a dense loss would be stopped."""
    from densepre.models.utils.correspondence import FLAG_WARPED, has_flag, stack_geometries
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/revisiting/mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py'))
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline[1:])
    img = np.random.RandomState(1).randint(0, 255, (120, 160, 3), np.uint8)
    np.random.seed(0)
    samples = [pipeline(dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2]))
               ['data_samples'] for _ in range(60)]
    warped = has_flag(stack_geometries(samples), FLAG_WARPED)  # (60, 6)
    assert not warped[:, 1].any()  # the key (view 1) never goes through A+
    # P(AutoAugment) 0.5 x P(a Rotate / Shear sub-policy whose op fires) ~ 0.19 -> ~0.09 per view
    assert 0.03 < float(warped[:, [0, 2, 3, 4, 5]].float().mean()) < 0.2
