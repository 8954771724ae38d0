"""View geometry: every view pixel / feature cell maps back to where it really came from."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from densepre.datasets.geometry import (cell_centers, cell_centers_in_image, cell_distances,
                                        fraction_inside, image_to_view, make_geometry,
                                        match_cells, view_to_image)


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
    assert geoms.shape == (5, 7)
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
    np.testing.assert_allclose(geom, [0, 0, 40, 20, 1, 10, 20])
    view = out['img'][0]
    # output column 0 of a flipped full-image view shows the right edge of the image
    assert view[5, 0, 0] > 38 and view[5, -1, 0] < 2


def test_flip_before_crop_is_rejected():
    img = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match='before RandomFlip'):
        run_views(img, [dict(num=1, transforms=[
            dict(type='RandomFlip', prob=1.0),
            dict(type='GeoRandomResizedCrop', scale=8)])])


def test_view_image_round_trip_and_inside_mask():
    geom = torch.tensor([[10., 20., 50., 100., 1., 16., 8.]])
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
    assert out['data_samples'].view_geometry.shape == (6, 7)


def test_bad_view_group_keys_are_named():
    with pytest.raises(KeyError, match='numb'):
        Compose([dict(type='GeoMultiView', views=[dict(numb=2, transforms=[])])])


def test_stack_geometries_from_a_collated_batch():
    """Views packed by GeoMultiView + PackInputs and collated by default_collate come back as one
    (B, V, 7) tensor; a batch without geometry gives an error saying how to produce it."""
    from mmengine.dataset import default_collate
    from mmpretrain.structures import DataSample

    from densepre.datasets.geometry import stack_geometries
    pipe = Compose([
        dict(type='GeoMultiView', views=[
            dict(num=2, transforms=[dict(type='GeoRandomResizedCrop', scale=16)])]),
        dict(type='PackInputs', algorithm_keys=['view_geometry']),
    ])
    samples = [pipe(dict(img=np.zeros((30 + i, 40, 3), np.uint8), ori_shape=(30 + i, 40)))
               for i in range(3)]
    batch = default_collate(samples)
    geoms = stack_geometries(batch['data_samples'])
    assert geoms.shape == (3, 2, 7) and geoms.dtype == torch.float32
    for i, ds in enumerate(samples):
        np.testing.assert_array_equal(geoms[i].numpy(), ds['data_samples'].view_geometry)
    with pytest.raises(KeyError, match='GeoMultiView'):
        stack_geometries([DataSample()])
