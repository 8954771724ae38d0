"""tools/model_converters/import_checkpoint.py: the papers' released checkpoints, in the key layouts
their code writes (built here by hand), become densepre checkpoints that load completely into the
VOC FCN and the C4 detector (ViT: the Segmenter config); unexplained keys fail naming them."""
import os.path as osp
import subprocess

import pytest
import torch

from densepre.transfer.downstream import verify
from densepre.transfer.importers import UnknownKeysError, import_checkpoint
from utils import PYTHON, REPO, staged

VOC_FCN = osp.join(REPO, 'configs/benchmarks/mmsegmentation/voc12aug/'
                   'fcn_r50-d8_4xb4-20k_voc12aug-512x512.py')
VOC_C4 = osp.join(REPO, 'configs/benchmarks/mmdetection/voc0712/'
                  'faster-rcnn_r50-c4_ms-24k_voc0712.py')
SEGMENTER = osp.join(REPO, 'configs/benchmarks/mmsegmentation/ade20k/'
                     'segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py')
TOOL = osp.join(REPO, 'tools/model_converters/import_checkpoint.py')


@pytest.fixture(scope='module')
def resnet50():
    """torchvision's ResNet-50 state dict (random weights): the names every ResNet layout uses."""
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.resnet50().state_dict()


def backbone_of(tv):
    return {k: v for k, v in tv.items() if not k.startswith('fc.')}


def prefixed(prefix, state):
    return {prefix + k: v for k, v in state.items()}


def moco_state(tv, mlp=True):
    """facebookresearch/moco main_moco.py: DDP-wrapped MoCo with encoder_q / encoder_k / queue."""
    head = ({'fc.0.weight': torch.randn(2048, 2048), 'fc.0.bias': torch.randn(2048),
             'fc.2.weight': torch.randn(128, 2048), 'fc.2.bias': torch.randn(128)} if mlp else
            {'fc.weight': torch.randn(128, 2048), 'fc.bias': torch.randn(128)})
    q = dict(backbone_of(tv), **head)
    k = {n: v.clone() + 1 for n, v in q.items()}
    return dict(prefixed('module.encoder_q.', q), **prefixed('module.encoder_k.', k),
                **{'module.queue': torch.randn(128, 64),
                   'module.queue_ptr': torch.zeros(1, dtype=torch.long)})


def layouts(tv):
    bb = backbone_of(tv)
    other = {n: v.clone() - 1 for n, v in bb.items()}
    lewel_neck = {'proj.mlp.0.weight': torch.randn(4096, 2048, 1),
                  'proj_obj.mlp.0.weight': torch.randn(4096, 2048, 1)}
    return {
        'torchvision': dict(tv),  # a copy: tests add stray keys to the layouts
        'moco': {'epoch': 200, 'arch': 'resnet50', 'state_dict': moco_state(tv),
                 'optimizer': {'state': {}, 'param_groups': []}},
        # mmselfsup 0.x MoCo v2: encoder_q = Sequential(backbone, neck), self.backbone aliases it
        'mmselfsup': {'meta': {'epoch': 200}, 'state_dict': dict(
            prefixed('backbone.', bb), **prefixed('encoder_q.0.', bb),
            **prefixed('encoder_k.0.', other),
            **{'encoder_q.1.mlp.0.weight': torch.randn(2048, 2048),
               'encoder_k.1.mlp.0.weight': torch.randn(2048, 2048),
               'queue': torch.randn(128, 64), 'queue_ptr': torch.zeros(1, dtype=torch.long)})},
        # LayneH/LEWEL main.py, LEWEL_B: online_net / target_net = EncoderObj(backbone, neck)
        'lewel': {'epoch': 200, 'arch': 'LEWELB_EMAN', 'state_dict': dict(
            prefixed('module.online_net.backbone.', bb),
            **prefixed('module.online_net.neck.', lewel_neck),
            **prefixed('module.target_net.backbone.', other),
            **prefixed('module.target_net.neck.', lewel_neck),
            **{'module.predictor.mlp.0.weight': torch.randn(4096, 256, 1),
               'module.predictor_obj.mlp.0.weight': torch.randn(4096, 256, 1)})},
        # sthalles/CLoVE main_pretrain.py: {'model': DDP(CLoVE).state_dict()} (PixPro's layout)
        'clove': {'model': dict(
            prefixed('module.encoder.', bb), **prefixed('module.encoder_k.', other),
            **{'module.projector.linear1.weight': torch.randn(4096, 2048, 1, 1),
               'module.projector_k.linear1.weight': torch.randn(4096, 2048, 1, 1),
               'module.self_attn.in_proj_weight': torch.randn(768, 256),
               'module.self_attn.out_proj.weight': torch.randn(256, 256)}),
            'optimizer': {}, 'epoch': 400},
        # wvangansbeke/Revisiting-Contrastive-SSL main_ours.py: MoCo + the kNN backbone queue
        'revisiting': {'epoch': 800, 'arch': 'resnet50', 'state_dict': dict(
            moco_state(tv), **{'module.queue_backbone': torch.randn(2048, 64)})},
    }


def lewel_m(tv):
    bb = backbone_of(tv)
    return {'state_dict': dict(prefixed('module.encoder_q.backbone.', bb),
                               **prefixed('module.encoder_k.backbone.', bb),
                               **{'module.queue': torch.randn(256, 64)})}


RESNET_FORMATS = ['torchvision', 'moco', 'mmselfsup', 'lewel', 'clove', 'revisiting']


def check_round_trip(out_path, tv, tmp_path):
    expected = {'backbone.' + k: v for k, v in backbone_of(tv).items()}
    state = torch.load(out_path, weights_only=True)['state_dict']
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], v) for k, v in expected.items())
    for config in (VOC_FCN, VOC_C4):
        cfg, pretrained = staged(config, out_path, tmp_path)
        report = verify(cfg, pretrained)  # every backbone tensor equals the checkpoint's
        assert report[0].startswith('backbone:')
    assert '50 tensors loaded' in report[1]  # C4: res5 of the checkpoint in the shared head


@pytest.mark.parametrize('fmt', RESNET_FORMATS)
def test_resnet_release_round_trips_into_fcn_and_c4(fmt, resnet50, tmp_path):
    torch.save(layouts(resnet50)[fmt], tmp_path / 'release.pth')
    out = str(tmp_path / 'imported.pth')
    import_checkpoint(str(tmp_path / 'release.pth'), fmt, out)
    check_round_trip(out, resnet50, tmp_path)


def test_lewel_m_layout(resnet50, tmp_path):
    torch.save(lewel_m(resnet50), tmp_path / 'lewel_m.pth')
    out = str(tmp_path / 'imported.pth')
    import_checkpoint(str(tmp_path / 'lewel_m.pth'), 'lewel', out)
    check_round_trip(out, resnet50, tmp_path)


@pytest.mark.parametrize('fmt', RESNET_FORMATS)
def test_unexplained_keys_are_named(fmt, resnet50, tmp_path):
    ckpt = layouts(resnet50)[fmt]
    state = ckpt.get('state_dict', ckpt.get('model', ckpt))
    stray = {'torchvision': 'layer5.0.conv1.weight', 'mmselfsup': 'backbone_extra.weight'}.get(
        fmt, 'module.something_new.weight')
    state[stray] = torch.zeros(1)
    torch.save(ckpt, tmp_path / 'release.pth')
    with pytest.raises(UnknownKeysError, match=stray.replace('.', r'\.')):
        import_checkpoint(str(tmp_path / 'release.pth'), fmt, str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()


def test_wrong_format_is_refused_naming_keys(resnet50, tmp_path):
    """A MoCo checkpoint read as CLoVE's: nothing under module.encoder., keys named."""
    torch.save(layouts(resnet50)['moco'], tmp_path / 'moco.pth')
    with pytest.raises(UnknownKeysError, match=r'module\.encoder_q\.conv1\.weight'):
        import_checkpoint(str(tmp_path / 'moco.pth'), 'clove')


def timm_vit_b(layer_scale=False, depth=12, dim=768, tokens=197):
    """timm / DeiT VisionTransformer (vit_base_patch16_224) names, written out by hand."""
    torch.manual_seed(1)
    state = {'cls_token': torch.randn(1, 1, dim), 'pos_embed': torch.randn(1, tokens, dim),
             'patch_embed.proj.weight': torch.randn(dim, 3, 16, 16),
             'patch_embed.proj.bias': torch.randn(dim)}
    for i in range(depth):
        b = f'blocks.{i}.'
        for norm in ('norm1', 'norm2'):
            state[b + norm + '.weight'] = torch.randn(dim)
            state[b + norm + '.bias'] = torch.randn(dim)
        state[b + 'attn.qkv.weight'] = torch.randn(3 * dim, dim)
        state[b + 'attn.qkv.bias'] = torch.randn(3 * dim)
        state[b + 'attn.proj.weight'] = torch.randn(dim, dim)
        state[b + 'attn.proj.bias'] = torch.randn(dim)
        state[b + 'mlp.fc1.weight'] = torch.randn(4 * dim, dim)
        state[b + 'mlp.fc1.bias'] = torch.randn(4 * dim)
        state[b + 'mlp.fc2.weight'] = torch.randn(dim, 4 * dim)
        state[b + 'mlp.fc2.bias'] = torch.randn(dim)
        if layer_scale:
            state[b + 'ls1.gamma'] = torch.randn(dim)
            state[b + 'ls2.gamma'] = torch.randn(dim)
    state.update({'norm.weight': torch.randn(dim), 'norm.bias': torch.randn(dim),
                  'head.weight': torch.randn(1000, dim), 'head.bias': torch.randn(1000)})
    return state


def test_timm_vit_round_trips_into_segmenter(tmp_path):
    """DeiT's release ({'model': timm state}) -> the Segmenter ViT-B/16 with a class token: every
    backbone tensor loaded (pos_embed at the checkpoint's 14x14 grid + class token)."""
    timm_state = timm_vit_b()
    torch.save({'model': timm_state}, tmp_path / 'deit.pth')
    out = str(tmp_path / 'imported.pth')
    state = import_checkpoint(str(tmp_path / 'deit.pth'), 'timm', out)
    assert len(state) == len(timm_state) - 2  # all but the classifier head
    assert torch.equal(state['backbone.layers.11.ffn.layers.0.0.weight'],
                       timm_state['blocks.11.mlp.fc1.weight'])
    assert torch.equal(state['backbone.ln1.bias'], timm_state['norm.bias'])
    cfg, pretrained = staged(SEGMENTER, out, tmp_path,
                             **{'model.backbone.with_cls_token': True})
    report = verify(cfg, pretrained)
    assert report == [f'backbone: {len(state)} tensors loaded from the checkpoint']


def test_timm_vit_layer_scale(tmp_path):
    """DeiT-III's LayerScale (blocks.N.ls1/ls2.gamma) lands in mmpretrain's gamma1 / gamma2."""
    timm_state = timm_vit_b(layer_scale=True, depth=2, dim=64, tokens=17)
    torch.save(timm_state, tmp_path / 'deit3.pth')
    out = str(tmp_path / 'imported.pth')
    import_checkpoint(str(tmp_path / 'deit3.pth'), 'timm', out)
    cfg, pretrained = staged(SEGMENTER, out, tmp_path, **{
        'model.backbone.with_cls_token': True, 'model.backbone.img_size': 64,
        'model.backbone.layer_scale_init_value': 0.1,
        'model.backbone.arch': dict(_delete_=True, embed_dims=64, num_layers=2, num_heads=2,
                                    feedforward_channels=256),
        'model.decode_head.in_channels': 64, 'model.decode_head.channels': 64})
    assert 'backbone.layers.1.ffn.gamma2.weight' in pretrained
    assert verify(cfg, pretrained) == ['backbone: 34 tensors loaded from the checkpoint']


def test_distilled_deit_is_refused_naming_the_tokens(tmp_path):
    state = timm_vit_b(depth=1, dim=64, tokens=18)
    state['dist_token'] = torch.randn(1, 1, 64)
    state['head_dist.weight'] = torch.randn(1000, 64)
    torch.save(state, tmp_path / 'deit_distilled.pth')
    with pytest.raises(UnknownKeysError, match='dist_token.*head_dist.weight'):
        import_checkpoint(str(tmp_path / 'deit_distilled.pth'), 'timm')


def test_cli(resnet50, tmp_path):
    torch.save(layouts(resnet50)['clove'], tmp_path / 'clove.pth')
    run = lambda *a: subprocess.run([PYTHON, TOOL, *a], capture_output=True, text=True,  # noqa
                                    env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1'})
    proc = run('--from', 'clove', str(tmp_path / 'clove.pth'), str(tmp_path / 'out.pth'))
    assert proc.returncode == 0, proc.stderr
    assert '318 backbone tensors imported' in proc.stdout
    proc = run('--from', 'moco', str(tmp_path / 'clove.pth'), str(tmp_path / 'bad.pth'))
    assert proc.returncode == 1 and 'module.encoder.conv1.weight' in proc.stderr
    assert not (tmp_path / 'bad.pth').exists()
