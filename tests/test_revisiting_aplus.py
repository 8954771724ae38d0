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


# ---------------------------------------------------------------------------- release options
RELEASE_HPARAMS = dict(pad_val=0, interpolation='nearest')


def forced(op, **kwargs):
    """APlusAugment that always runs exactly ``op`` (one sub-policy, AutoAugment branch)."""
    return APlusAugment(standard=[], policies=[[op]], prob=1.0, **kwargs)


def grey_ramp(h, w):
    """(h, w, 3) uint8, every pixel a distinct value 1..h*w (no 0, no 128 for h*w < 128)."""
    v = np.arange(1, h * w + 1, dtype=np.uint8).reshape(h, w)
    return np.repeat(v[..., None], 3, axis=2)


def test_rotate_fill_grey_by_default_zero_with_the_release_hparams():
    img = np.full((33, 33, 3), 200, np.uint8)
    rot = dict(type='Rotate', angle=30., prob=1., random_negative_prob=0.)
    default = run(forced(rot), img, 0)
    release = run(forced(rot, hparams=RELEASE_HPARAMS), img, 0)
    # a 30 deg rotation about the centre uncovers the corners: filled with the pad value (an int
    # pad value reaches cv2 through mmcv.imrotate as a scalar: (128, 0, 0), first channel only)
    assert default[0, 0].tolist() == [128, 0, 0] and (release[0, 0] == 0).all()
    assert (default[16, 16] == 200).all() and (release[16, 16] == 200).all()


def test_shear_about_centre_is_the_release_geometry():
    """ShearX, magnitude m = 0.3, sign fixed. Release (torchvision ``affine`` on PIL, nearest,
    fill 0): output (x, y) = input(floor(x + ½ + tan(m)·(y + ½ − H/2)), y), so the centre row
    of an odd-height image is unchanged. mmpretrain: about the top-left corner (row 0 unchanged),
    factor m, bicubic, fill 128."""
    h, w, m = 9, 11, 0.3
    img = grey_ramp(h, w)
    op = dict(type='Shear', magnitude=m, prob=1., random_negative_prob=0.,
              direction='horizontal')
    aug = forced(op, hparams=RELEASE_HPARAMS, shear_about='centre')
    centred = aug.autoaugment.transforms[0].transforms[0]
    assert type(centred).__name__ == 'CentredShear' and centred.pad_val == 0
    assert centred.interpolation == 'nearest'
    out = run(aug, img, 0)

    y, x = np.mgrid[0:h, 0:w]
    src = np.floor(x + 0.5 + np.tan(m) * (y + 0.5 - h / 2)).astype(int)
    inside = (src >= 0) & (src < w)
    expected = np.where(inside, img[y, np.clip(src, 0, w - 1), 0], 0)
    assert (out == expected[..., None]).all()
    assert (out[h // 2] == img[h // 2]).all()  # the centre row (and pixel) stays
    assert (out[0, 0] == 0).all() and (out[-1, -1] == 0).all()  # shifted out: fill 0

    corner = run(forced(op), img, 0)  # mmpretrain's default
    assert (corner[0] == img[0]).all() and not (corner[h // 2] == img[h // 2]).all()
    assert (corner[-1, 0] == 128).all()  # row 8 moves right by 0.3 * 8 = 2.4 px


def test_release_aplus_pipeline_of_the_release_config():
    """The `-release` kNN config's positives use the release's A+ options (fill 0, centred
    nearest shear) and the 10 % CC rule; the paper config keeps mmpretrain's defaults."""
    views = Config.fromfile(osp.join(
        REPO, 'configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco-release_200e.py')
    ).train_dataloader.dataset.pipeline[1]['views']
    for group in (views[0], views[2]):
        aplus = TRANSFORMS.build(group['transforms'][1])
        assert aplus.shear_about == 'centre'
        ops = [op for sub in aplus.autoaugment.transforms for op in sub.transforms]
        shears = [op for op in ops if 'Shear' in type(op).__name__]
        rotates = [op for op in ops if type(op).__name__ == 'Rotate']
        assert shears and all(type(op).__name__ == 'CentredShear' for op in shears)
        assert all(op.pad_val == 0 and op.interpolation == 'nearest' for op in shears + rotates)
    assert views[2]['transforms'][0]['min_overlap'] == 0.1
    assert all(t['type'] != 'APlusAugment' for t in views[1]['transforms'])
    paper = TRANSFORMS.build(Config.fromfile(osp.join(
        REPO, 'configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py')
    ).train_dataloader.dataset.pipeline[1]['views'][0]['transforms'][1])
    ops = [op for sub in paper.autoaugment.transforms for op in sub.transforms]
    assert all(op.pad_val == 128 for op in ops if hasattr(op, 'pad_val'))
    assert {type(op).__name__ for op in ops if 'Shear' in type(op).__name__} == {'Shear'}


def test_shear_about_refuses_unknown_values():
    with pytest.raises(ValueError, match='shear_about'):
        APlusAugment(standard=[], shear_about='middle')
