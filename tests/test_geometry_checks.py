"""Geometry / trackability checks without host synchronisation: host data is checked with numpy
(once per batch before the device move for an algorithm that matches every view), device data
with torch._assert_async (CPU stand-in below), and no tensor value is read in between."""
import numpy as np
import pytest
import torch
from mmpretrain.structures import DataSample
from torch.utils._python_dispatch import TorchDispatchMode

from densepre.models.utils import correspondence as corr


class CountLocalScalar(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def geometry(flags=(0, 0), size=(8, 8)):
    return np.array([[0, 0, 16, 16, 0, *size, f] for f in flags], np.float32)


def samples(*geoms):
    out = []
    for g in geoms:
        ds = DataSample()
        ds.set_field(g, corr.GEOMETRY_KEY)
        out.append(ds)
    return out


def test_stack_geometries_checks_trackability_on_the_host_when_asked():
    batch = samples(geometry(), geometry(flags=(0, corr.FLAG_WARPED)))
    corr.stack_geometries(batch)  # a global loss may use warped views
    with pytest.raises(ValueError, match=r"view_geometry: 1 view\(s\) at index \(1, 1\)"):
        corr.stack_geometries(batch, trackable=True)
    ok = corr.stack_geometries(samples(geometry(), geometry()), trackable=True)
    assert ok.shape == (2, 2, 8) and ok.dtype == torch.float32


def test_correspondence_ops_read_no_tensor_value_on_host_data():
    geom = torch.as_tensor(np.stack([geometry(), geometry()]))
    with CountLocalScalar() as counter:
        corr.cell_distances(geom[:, 0], (4, 4), geom[:, 1], (2, 2))
        corr.match_cells(geom[:, 0], (4, 4), geom[:, 1], (4, 4), stride_src=2, stride_dst=2)
    assert counter.count == 0


def test_device_path_checks_asynchronously(monkeypatch):
    """CPU stand-in for a geometry on an accelerator: the checks become torch._assert_async
    (on CPU it raises at once; on a GPU the step fails asynchronously, with no host read)."""
    monkeypatch.setattr(corr, '_on_host', lambda geom: False)
    good = torch.as_tensor(geometry())
    corr.check_trackable(good)
    corr.check_grid_tiles_views(good, (4, 4))
    corr.check_grid_tiles_views(good, (4, 4), stride=2)
    with pytest.raises(RuntimeError, match='flagged warped'):
        corr.check_trackable(torch.as_tensor(geometry(flags=(0, corr.FLAG_WARPED))))
    with pytest.raises(RuntimeError, match='does not tile'):
        corr.check_grid_tiles_views(good, (3, 3))
    with pytest.raises(RuntimeError, match='does not tile'):
        corr.check_grid_tiles_views(good, (4, 4), stride=4)


def test_host_grid_check_still_names_the_view_size():
    with pytest.raises(ValueError, match='does not tile a 8x8 view'):
        corr.check_grid_tiles_views(torch.as_tensor(geometry()), (3, 3))
    with pytest.raises(ValueError, match='does not tile a 8x8 view'):
        corr.check_grid_tiles_views(geometry(), (4, 4), stride=4)
