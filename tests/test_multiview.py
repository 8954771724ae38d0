"""Named view groups through the real pipeline and multi-crop batching (one pass per size)."""
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import default_collate

from densepre.models.utils import MultiViewBatch, forward_views


def multicrop_batch(batch=3):
    pipe = Compose([
        dict(type='GeoMultiView', views=[
            dict(num=2, name='global', transforms=[dict(type='GeoRandomResizedCrop', scale=32)]),
            dict(num=3, name='local', overlap_with=0, transforms=[
                dict(type='GeoRandomResizedCrop', scale=16, min_overlap=0.5, overlap_tries=1)]),
        ]),
        dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_groups']),
    ])
    np.random.seed(0)
    samples = [pipe(dict(img=np.random.randint(0, 255, (40, 50, 3), np.uint8),
                         ori_shape=(40, 50))) for _ in range(batch)]
    return default_collate(samples)


def test_groups_are_named_in_the_packed_sample():
    data = multicrop_batch()
    views = MultiViewBatch(data['inputs'], data['data_samples'])
    assert views.groups == ('global',) * 2 + ('local',) * 3
    assert views.group_names == ('global', 'local')
    assert views.indices('local') == [2, 3, 4]
    assert views.indices('global', 'local') == [0, 1, 2, 3, 4]
    assert [v.shape[-1] for v in views.views('local')] == [16] * 3
    with pytest.raises(KeyError, match="no view group \\['query'\\].*'global', 'local'"):
        views.indices('query')
    geoms = np.stack([ds.view_geometry for ds in data['data_samples']])
    assert float(views.num_fallback_crops()) == geoms[..., 7].sum()


def test_missing_group_names_say_how_to_pack_them():
    from mmpretrain.structures import DataSample
    with pytest.raises(KeyError, match="algorithm_keys=\\['view_geometry', 'view_groups'\\]"):
        MultiViewBatch([torch.zeros(1, 3, 4, 4)], [DataSample()])
    views = MultiViewBatch([torch.zeros(1, 3, 4, 4)] * 2, [DataSample()], ('a', 'b'))
    assert views.indices('b') == [1]


def test_one_pass_per_size_equals_one_pass_per_view():
    data = multicrop_batch()
    inputs = [x.float() for x in data['inputs']]
    views = MultiViewBatch(inputs, data['data_samples'])
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    calls = []

    def net(x):
        calls.append(x.shape[0])
        return conv(x), (x.mean((1, 2, 3)), None)

    out = views.forward(net, 'global', 'local')
    assert calls == [6, 9]  # 2 views x 3 images, then 3 views x 3 images
    for i, x in enumerate(inputs):
        torch.testing.assert_close(out[i][0], conv(x), rtol=0, atol=1e-6)
        torch.testing.assert_close(out[i][1][0], x.mean((1, 2, 3)))
        assert out[i][1][1] is None
    chunks = views.concatenated('local')
    assert len(chunks) == 1 and chunks[0][0] == [2, 3, 4]
    assert torch.equal(chunks[0][1], torch.cat(inputs[2:]))
    calls.clear()
    assert len(forward_views(net, inputs[:1] + inputs[2:3] + inputs[1:2])) == 3
    assert calls == [6, 3]  # the two 32-px views together although not adjacent
