"""Model converters: detectron2 / torchvision / timm names, through the tool scripts."""
import os.path as osp
import pickle

import torch
import torchvision
from mmengine.config import Config

from densepre.registry import MODELS
from densepre.transfer.convert import resnet_to_detectron2, vit_to_timm
from utils import REPO

import export_backbone  # noqa: E402  (tools/model_converters is put on the path below)
import to_detectron2  # noqa: E402


def r50_ckpt(path):
    cfg = Config.fromfile(osp.join(REPO, 'configs/mocov2/mocov2_r50_8xb32_200e.py'))
    model = MODELS.build(cfg.model)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model


def test_torchvision_export_loads_completely(tmp_path):
    model = r50_ckpt(tmp_path / 'c.pth')
    export_backbone.main([str(tmp_path / 'c.pth'), str(tmp_path / 'tv.pth')])
    state = torch.load(tmp_path / 'tv.pth', weights_only=True)
    tv = torchvision.models.resnet50(weights=None)
    result = tv.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ['fc.bias', 'fc.weight'] and not result.unexpected_keys
    torch.testing.assert_close(tv.layer3[2].conv2.weight, model.backbone.layer3[2].conv2.weight)


def test_detectron2_names(tmp_path):
    r50_ckpt(tmp_path / 'c.pth')
    to_detectron2.main([str(tmp_path / 'c.pth'), str(tmp_path / 'd2.pkl')])
    with open(tmp_path / 'd2.pkl', 'rb') as f:
        d2 = pickle.load(f)
    model = d2['model']
    assert d2['matching_heuristics'] is True
    for key in ('stem.conv1.weight', 'stem.conv1.norm.running_mean', 'res2.0.conv1.weight',
                'res2.0.conv3.norm.bias', 'res2.0.shortcut.weight', 'res2.0.shortcut.norm.weight',
                'res5.2.conv2.weight'):
        assert key in model, key
    assert not any(k.startswith(('layer', 'bn', 'conv1')) for k in model)
    assert len(model) == len([k for k in torch.load(tmp_path / 'c.pth', weights_only=False)
                              ['state_dict'] if k.startswith('backbone.')])


def test_detectron2_mapping_is_one_to_one():
    tv = torchvision.models.resnet50(weights=None).state_dict()
    mapped = resnet_to_detectron2({k: v for k, v in tv.items() if not k.startswith('fc.')})
    assert len(mapped) == len(tv) - 2


def test_vit_timm_names():
    vit = MODELS.build(dict(type='VisionTransformer', arch='deit-tiny', img_size=32,
                            patch_size=16, final_norm=True))
    names = set(vit_to_timm(vit.state_dict()))
    for key in ('patch_embed.proj.weight', 'blocks.0.norm1.weight', 'blocks.0.attn.qkv.weight',
                'blocks.0.attn.proj.bias', 'blocks.11.mlp.fc1.weight', 'blocks.11.mlp.fc2.bias',
                'norm.weight', 'pos_embed', 'cls_token'):
        assert key in names, key
    assert not any(k.startswith(('layers.', 'ln1')) for k in names)
