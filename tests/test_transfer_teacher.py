"""`--teacher`: the EMA teacher's backbone is what gets extracted (LOCA reports its teacher)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from densepre.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _byol_checkpoint(tmp_path):
    cfg = Config.fromfile(osp.join(REPO, 'tests/configs/byol_r18_tiny.py'))
    with DefaultScope.overwrite_default_scope('densepre'):  # earlier tests may leave mmdet's
        model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # online and teacher differ, as after training
        for p in model.backbone.parameters():
            p.add_(1.0)
    path = str(tmp_path / 'byol.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path, model


def test_extract_backbone_cli_online_and_teacher(tmp_path):
    import extract_backbone as cli
    ckpt, model = _byol_checkpoint(tmp_path)
    cli.main([ckpt, str(tmp_path / 'online.pth')])
    cli.main([ckpt, str(tmp_path / 'teacher.pth'), '--teacher'])
    online = torch.load(tmp_path / 'online.pth', weights_only=True)['state_dict']
    teacher = torch.load(tmp_path / 'teacher.pth', weights_only=True)['state_dict']
    assert online.keys() == teacher.keys() and all(k.startswith('backbone.') for k in online)
    want = model.teacher['backbone'].state_dict()
    for k, v in teacher.items():
        assert torch.equal(v, want[k[len('backbone.'):]]), k
    assert not torch.equal(online['backbone.conv1.weight'], teacher['backbone.conv1.weight'])
    assert torch.equal(online['backbone.conv1.weight'], model.backbone.conv1.weight)


def test_teacher_prefix_of_a_loca_layout_and_missing_teacher(tmp_path):
    from densepre.transfer import extract_backbone
    w = torch.randn(3)
    path = str(tmp_path / 'loca.pth')
    torch.save({'state_dict': {'backbone.pos_embed': w + 1, 'teacher.module.backbone.pos_embed': w,
                               'teacher.module.cluster_head.w': w}}, path)
    assert torch.equal(extract_backbone(path, teacher=True)['backbone.pos_embed'], w)
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': {'backbone.pos_embed': w}}, path)
    with pytest.raises(KeyError, match='exactly one EMA teacher'):
        extract_backbone(path, teacher=True)


def test_finetune_takes_teacher_and_trust_flags():
    import finetune
    args = finetune.parse_args(['cfg.py', 'ckpt.pth', '--teacher', '--trust-checkpoint'])
    assert args.teacher and args.trust_checkpoint
    assert not finetune.parse_args(['cfg.py', 'ckpt.pth']).teacher
