"""Online dense probe hook: mIoU arithmetic and a run through the Runner."""
import pytest
import torch

from densepre.engine.hooks import DenseProbeHook
from densepre.engine.hooks.dense_probe import confusion_miou
from utils import TINY, data_opts, derived_config, logged_scalars, run_train


def test_miou_by_hand():
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 1]])
    # class 0: inter 1, union (2 gt + 2 pred - 1) = 3; class 1: inter 3, union 3+4-3 = 4;
    # class 2: inter 1, union 2+1-1 = 2  (the ignored pixel counts nowhere)
    expected = (1 / 3 + 3 / 4 + 1 / 2) / 3 * 100
    assert confusion_miou(pred, gt, num_classes=5) == pytest.approx(expected)


def test_probe_separates_labels_with_informative_features(demo_root):
    """A 'backbone' whose features are the image itself can already linearly separate the demo
    shapes from the background better than chance; a constant one cannot."""
    hook = DenseProbeHook(f'{demo_root}/VOCdevkit/VOC2012', image_size=32, steps=60, lr=0.1)

    class Identity(torch.nn.Module):
        def __init__(self, constant=False):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.constant = constant

        def forward(self, x):
            return [torch.zeros_like(x) if self.constant else x * self.w]

    informative, constant = hook.probe(Identity()), hook.probe(Identity(constant=True))
    assert informative > constant + 5


def test_missing_split_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='split list not found'):
        DenseProbeHook(str(tmp_path))


def test_probe_logged_during_pretraining(demo_root, tmp_path):
    cfg = derived_config(tmp_path, TINY['mocov2'], (
        "custom_hooks = [dict(type='FiniteLossHook'), dict(type='DenseProbeHook', "
        f"data_root='{demo_root}/VOCdevkit/VOC2012', image_size=32, steps=20, interval=1)]"))
    run_train(cfg, tmp_path / 'work', *data_opts(demo_root), 'train_cfg.max_epochs=2')
    probes = [r['probe/mIoU'] for r in logged_scalars(tmp_path / 'work') if 'probe/mIoU' in r]
    assert len(probes) == 2 and all(0 <= p <= 100 for p in probes)
