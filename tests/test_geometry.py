"""View geometry: every view pixel / feature cell maps back to where it really came from."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from densepre.datasets.geometry import fraction_inside, make_geometry
from densepre.models.utils.correspondence import (cell_centers, cell_centers_in_image,
                                                  cell_distances, image_to_view, match_cells,
                                                  stack_geometries, view_to_image)


def coordinate_image(h, w):
    """Float image whose channels hold the continuous x / y coordinate of each pixel centre."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs + 0.5, ys + 0.5, np.zeros_like(xs)], axis=-1)


def run_views(img, views, seed=0):
    np.random.seed(seed)
    pipe = Compose([dict(type='GeoMultiView', views=views)])
    return pipe(dict(img=img, ori_shape=img.shape[:2], img_shape=img.shape[:2]))


@pytest.mark.parametrize('seed', range(4))
def test_coordinate_coded_image_round_trip(seed):
    """Crop + flip + resize (up- and down-sampling, several view sizes): every interior output
    pixel holds the source coordinate that view_to_image predicts."""
    img = coordinate_image(90, 130)
    views = [
        dict(num=2, transforms=[
            dict(type='GeoRandomResizedCrop', scale=(40, 56), crop_ratio_range=(0.2, 1.),
                 backend='cv2'),
            dict(type='RandomFlip', prob=0.5)]),
        dict(num=3, transforms=[
            dict(type='GeoRandomResizedCrop', scale=24, crop_ratio_range=(0.05, 0.3),
                 backend='cv2'),
            dict(type='RandomFlip', prob=0.5)]),
    ]
    out = run_views(img, views, seed)
    geoms = out['view_geometry']
    assert geoms.shape == (5, 10)
    assert (geoms[:, 8:] == (90, 130)).all()  # the original image size (img_h, img_w)
    flips = set()
    for view, geom in zip(out['img'], geoms):
        h, w = view.shape[:2]
        assert (geom[5], geom[6]) == (h, w)
        flips.add(bool(geom[4]))
        uv = cell_centers(h, w)
        xy = view_to_image(uv, torch.as_tensor(geom)).reshape(h, w, 2).numpy()
        x1, y1, x2, y2 = geom[:4]
        # bilinear interpolation of a linear ramp is exact between the crop's first and last
        # pixel centres; outside that band OpenCV clamps to the border pixel.
        interior = ((xy[..., 0] >= x1 + 0.5) & (xy[..., 0] <= x2 - 0.5) &
                    (xy[..., 1] >= y1 + 0.5) & (xy[..., 1] <= y2 - 0.5))
        assert interior.mean() > 0.3
        np.testing.assert_allclose(view[..., :2][interior], xy[interior], atol=1e-3)
    assert len(set(map(tuple, geoms[:, :4].tolist()))) == 5


def test_flip_is_recorded_and_mirrors_x():
    img = coordinate_image(20, 40)
    out = run_views(img, [dict(num=1, transforms=[
        dict(type='GeoRandomResizedCrop', scale=(10, 20), crop_ratio_range=(1., 1.),
             aspect_ratio_range=(2., 2.), backend='cv2'),
        dict(type='RandomFlip', prob=1.0)])])
    geom = out['view_geometry'][0]
    np.testing.assert_allclose(geom, [0, 0, 40, 20, 1, 10, 20, 0, 20, 40])
    view = out['img'][0]
    # output column 0 of a flipped full-image view shows the right edge of the image
    assert view[5, 0, 0] > 38 and view[5, -1, 0] < 2


def test_flip_before_crop_is_rejected():
    img = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match='after RandomFlip'):
        run_views(img, [dict(num=1, transforms=[
            dict(type='RandomFlip', prob=1.0),
            dict(type='GeoRandomResizedCrop', scale=8)])])


def test_view_image_round_trip_and_inside_mask():
    geom = torch.tensor([[10., 20., 50., 100., 1., 16., 8., 0.]])
    uv = torch.rand(1, 100, 2)
    xy = view_to_image(uv, geom)
    uv2, inside = image_to_view(xy, geom)
    torch.testing.assert_close(uv2, uv, atol=1e-5, rtol=0)
    assert inside.all()
    _, inside = image_to_view(torch.tensor([[[5., 50.], [30., 60.], [30., 101.]]]), geom)
    assert inside.tolist() == [[False, True, False]]


def test_match_cells_by_hand():
    # A: the full 8x8 image as a 4x4 map. B: its right half (x in [4, 8)) flipped, as a 2x2 map.
    a = torch.tensor(make_geometry((0, 0, 8, 8), False, (32, 32)))
    b = torch.tensor(make_geometry((4, 0, 8, 8), True, (32, 16)))
    idx = match_cells(a, (4, 4), b, (2, 2)).reshape(4, 4)
    # A's cell (r, c) has centre x = 2c+1, y = 2r+1. In B (flipped) x=7 -> u=0.125 -> col 0,
    # x=5 -> u=0.625 -> col 1; y<4 -> row 0 else row 1. Left half of A is outside B.
    expected = torch.tensor([[-1, -1, 1, 0],
                             [-1, -1, 1, 0],
                             [-1, -1, 3, 2],
                             [-1, -1, 3, 2]])
    assert torch.equal(idx, expected)


def test_match_cells_batched_and_identity():
    geom = torch.tensor(np.stack([make_geometry((3, 5, 67, 45), f, (40, 64)) for f in (False, True)]))
    idx = match_cells(geom, (5, 8), geom, (5, 8))
    assert torch.equal(idx, torch.arange(40).expand(2, 40))


def test_cell_distances_normalised_by_larger_bin_diagonal():
    a = torch.tensor(make_geometry((0, 0, 8, 8), False, (8, 8)))  # 2x2 map: bins 4x4
    b = torch.tensor(make_geometry((0, 0, 4, 4), False, (8, 8)))  # 2x2 map: bins 2x2
    d = cell_distances(a, (2, 2), b, (2, 2))
    centres_a = torch.tensor([[2., 2.], [6., 2.], [2., 6.], [6., 6.]])
    centres_b = torch.tensor([[1., 1.], [3., 1.], [1., 3.], [3., 3.]])
    expected = torch.cdist(centres_a, centres_b) / (4 * 2**0.5)
    torch.testing.assert_close(d, expected)
    assert torch.allclose(cell_centers_in_image(a, (2, 2)), centres_a)


def test_constrained_crop_overlaps_its_reference():
    img = np.zeros((200, 300, 3), np.uint8)
    views = [
        dict(num=1, transforms=[dict(type='GeoRandomResizedCrop', scale=32,
                                     crop_ratio_range=(0.2, 0.3))]),
        dict(num=6, overlap_with=0, transforms=[
            dict(type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14),
                 min_overlap=0.2, overlap_tries=50)]),
    ]
    fractions = []
    for seed in range(20):
        g = run_views(img, views, seed)['view_geometry']
        fractions.append(fraction_inside(g[1:, :4], g[0, :4]))
    fractions = np.concatenate(fractions)
    assert (fractions >= 0.2).all()
    assert not g[:, 7].any()  # no fallback crop
    # without the constraint, many small crops miss a 20-30 % key crop entirely
    free = [dict(views[0]), dict(num=6, transforms=[
        dict(type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14))])]
    free_fr = np.concatenate([
        fraction_inside(g[1:, :4], g[0, :4])
        for g in (run_views(img, free, s)['view_geometry'] for s in range(20))])
    assert (free_fr < 0.2).mean() > 0.3


def test_views_sizes_and_packing():
    img = np.random.randint(0, 255, (60, 80, 3), np.uint8)
    pipe = Compose([
        dict(type='GeoMultiView', views=[
            dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=32)]),
            dict(num=4, transforms=[dict(type='GeoRandomResizedCrop', scale=16)])]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ])
    out = pipe(dict(img=img, ori_shape=img.shape[:2]))
    shapes = [tuple(t.shape) for t in out['inputs']]
    assert shapes == [(3, 32, 32)] * 2 + [(3, 16, 16)] * 4
    assert out['data_samples'].view_geometry.shape == (6, 10)


def test_bad_view_group_keys_are_named():
    with pytest.raises(KeyError, match='numb'):
        Compose([dict(type='GeoMultiView', views=[dict(numb=2, transforms=[])])])


def test_stack_geometries_from_a_collated_batch():
    """Views packed by GeoMultiView + PackInputs and collated by default_collate come back as one
    (B, V, 10) tensor; a batch without geometry gives an error saying how to produce it."""
    from mmengine.dataset import default_collate
    from mmpretrain.structures import DataSample

    pipe = Compose([
        dict(type='GeoMultiView', views=[
            dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=16)])]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ])
    samples = [pipe(dict(img=np.zeros((30 + i, 40, 3), np.uint8), ori_shape=(30 + i, 40)))
               for i in range(3)]
    batch = default_collate(samples)
    geoms = stack_geometries(batch['data_samples'])
    assert geoms.shape == (3, 2, 10) and geoms.dtype == torch.float32
    for i, ds in enumerate(samples):
        np.testing.assert_array_equal(geoms[i].numpy(), ds['data_samples'].view_geometry)
    with pytest.raises(KeyError, match='GeoMultiView'):
        stack_geometries([DataSample()])


def _densepre_imports(package):
    """Absolute names of the densepre modules imported by the files of ``package``."""
    import ast
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / 'densepre'
    found = set()
    for path in (root / package).rglob('*.py'):
        parts = ['densepre', *path.relative_to(root).with_suffix('').parts]
        pkg = parts[:-1]  # the package a relative import starts from
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(str(path), a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = pkg[:len(pkg) - node.level + 1] if node.level else []
                name = '.'.join(base + ([node.module] if node.module else []))
                found.add((str(path), name))
    return found


def test_models_and_datasets_do_not_import_each_other():
    """Model-side correspondence code lives in densepre.models, the geometry producers in
    densepre.datasets; the data-sample key and field layout are the only contract."""
    from densepre.datasets import geometry as data_geometry
    from densepre.models.utils import correspondence
    bad = [(f, m) for f, m in _densepre_imports('datasets') if m.startswith('densepre.models')]
    bad += [(f, m) for f, m in _densepre_imports('models') if m.startswith('densepre.datasets')]
    assert not bad, bad
    assert data_geometry.GEOMETRY_KEY == correspondence.GEOMETRY_KEY
    assert data_geometry.GEOMETRY_FIELDS == correspondence.GEOMETRY_FIELDS


# ------------------------------------------------------------------------------------------
# Hazards that used to give wrong geometry without an error (issue 7, point 6). Each test fails
# on b15f9f0, where the pipeline ran and recorded a box hundreds of pixels off.
GEO_CROP = dict(type='GeoRandomResizedCrop', scale=32, backend='cv2')


@pytest.mark.parametrize('transforms, match', [
    ([dict(type='RandomResizedCrop', scale=32)], 'RandomResizedCrop .*GeoRandomResizedCrop'),
    ([GEO_CROP, dict(type='RandomCrop', crop_size=16)], 'RandomCrop'),
    ([GEO_CROP, dict(type='CenterCrop', crop_size=16)], 'CenterCrop'),
    ([GEO_CROP, dict(type='RandomApply', prob=0.5,
                     transforms=[dict(type='Rotate', angle=30.)])], 'Rotate'),
    ([GEO_CROP, dict(type='RandomFlip', prob=0.5), dict(type='RandomFlip', prob=0.5)],
     'more than one RandomFlip'),
    ([GEO_CROP, dict(type='RandomFlip', prob=0.5, direction='vertical')], 'horizontal'),
    ([GEO_CROP, dict(type='Resize', scale=(16, 16), interpolation='nearest')],
     "nearest.*half-pixel"),
    ([dict(type='MyUnknownTransform')], 'not in the transform registry|MyUnknownTransform'),
])
def test_untrackable_view_pipelines_are_refused_at_build(transforms, match):
    with pytest.raises((ValueError, KeyError), match=match):
        Compose([dict(type='GeoMultiView', views=[dict(num=2, transforms=transforms)])])


def test_hazardous_pipelines_really_give_wrong_geometry():
    """The refused pipelines are not false alarms: run the views without the checks (as b15f9f0
    did) and the coordinate-coded pixels disagree with the recorded geometry."""
    from densepre.datasets.transforms import views as views_mod
    img = coordinate_image(120, 160)
    pipelines = [[dict(type='RandomResizedCrop', scale=32, backend='cv2')],
                 [GEO_CROP, dict(type='CenterCrop', crop_size=16)]]
    check = views_mod.check_view_pipeline
    try:
        views_mod.check_view_pipeline = lambda *a, **k: None
        for transforms in pipelines:
            out = run_views(img, [dict(num=1, transforms=transforms)], seed=1)
            view, geom = out['img'][0], torch.as_tensor(out['view_geometry'][0])
            h, w = view.shape[:2]
            xy = view_to_image(cell_centers(h, w), geom).reshape(h, w, 2).numpy()
            assert np.abs(view[..., :2] - xy).max() > 5, transforms
    finally:
        views_mod.check_view_pipeline = check


def test_crop_before_geomultiview_is_an_error_at_first_sample():
    img = coordinate_image(100, 120)
    pipe = Compose([dict(type='CenterCrop', crop_size=60),
                    dict(type='GeoMultiView', views=[dict(num=1, transforms=[GEO_CROP])])])
    with pytest.raises(ValueError, match='60x60 but the loaded image .* 100x120: a transform before'):
        pipe(dict(img=img, ori_shape=img.shape[:2], img_shape=img.shape[:2]))


@pytest.mark.parametrize('group, match', [
    (dict(num=2, transforms=[dict(GEO_CROP, min_overlap=0.2)]), 'needs the group to name'),
    (dict(num=2, overlap_with=0, transforms=[GEO_CROP]), 'no effect without'),
])
def test_min_overlap_and_overlap_with_need_each_other(group, match):
    views = [dict(num=1, transforms=[GEO_CROP]), group]
    with pytest.raises(ValueError, match=match):
        Compose([dict(type='GeoMultiView', views=views)])


def test_fallback_crops_are_flagged_exactly():
    """With one try, many small crops miss a small key crop: exactly those are flagged."""
    img = np.zeros((200, 300, 3), np.uint8)
    views = [
        dict(num=1, transforms=[dict(type='GeoRandomResizedCrop', scale=32,
                                     crop_ratio_range=(0.05, 0.1))]),
        dict(num=6, overlap_with=0, transforms=[
            dict(type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.05, 0.14),
                 min_overlap=0.2, overlap_tries=1)]),
    ]
    flags, missed = [], []
    for seed in range(10):
        g = run_views(img, views, seed)['view_geometry']
        assert g[0, 7] == 0
        flags.append(g[1:, 7] == 1)
        missed.append(fraction_inside(g[1:, :4], g[0, :4]) < 0.2)
    flags, missed = np.concatenate(flags), np.concatenate(missed)
    assert missed.sum() > 5
    np.testing.assert_array_equal(flags, missed)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_nearest_interpolation_samples_pixel_centres(backend):
    """Down-sampling 4x with nearest: every output pixel is the source pixel containing the point
    the geometry predicts (cv2's INTER_NEAREST alone is off by ~2 px here)."""
    img = coordinate_image(128, 128)
    out = run_views(img, [dict(num=1, transforms=[dict(
        type='GeoRandomResizedCrop', scale=16, crop_ratio_range=(0.3, 0.5),
        interpolation='nearest', backend=backend)])], seed=3)
    view, geom = out['img'][0], torch.as_tensor(out['view_geometry'][0])
    xy = view_to_image(cell_centers(16, 16), geom).reshape(16, 16, 2).numpy()
    np.testing.assert_array_equal(view[..., :2], np.floor(xy) + 0.5)


def test_grid_that_does_not_tile_the_view_is_refused():
    """A 100-px view with 16-px patches: the ViT's 6x6 grid covers 96 px, so the cell centres of
    the uniform-tiling formula are 3-6 px off; refused. Exact tilings pass."""
    geom = torch.tensor(make_geometry((0, 0, 100, 100), False, (100, 100)))
    with pytest.raises(ValueError, match='6x6 feature grid does not tile a 100x100 view'):
        cell_centers_in_image(geom, (6, 6))
    with pytest.raises(ValueError, match='does not tile'):
        match_cells(geom, (6, 6), geom, (6, 6), stride_src=16, stride_dst=16)
    ok = torch.tensor(make_geometry((0, 0, 96, 96), False, (96, 96)))
    assert torch.equal(match_cells(ok, (6, 6), ok, (6, 6), 16, 16), torch.arange(36))
    with pytest.raises(ValueError, match='cells of 32 px'):
        cell_distances(ok, (6, 6), ok, (3, 3), stride_a=32)
