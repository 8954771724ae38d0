"""Export a densepre backbone for torchvision or timm.

    python tools/model_converters/export_backbone.py CKPT OUT.pth --format torchvision|timm

torchvision: a plain ResNet state dict (`torchvision.models.resnet50().load_state_dict(sd,
strict=False)` leaves only `fc.*` missing). timm: ResNet keys are already timm's; ViT keys are
renamed from mmpretrain's `VisionTransformer` to timm's.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    parser.add_argument('--format', choices=['torchvision', 'timm'], default='torchvision')
    args = parser.parse_args(argv)
    import torch

    from densepre.transfer import extract_backbone
    from densepre.transfer.convert import is_vit, strip_prefix, vit_to_timm
    state = strip_prefix(extract_backbone(args.checkpoint))
    if is_vit(state):
        if args.format == 'torchvision':
            raise ValueError('torchvision export supports ResNets; use --format timm for a ViT')
        state = vit_to_timm(state)
    tmp = args.out + '.part'
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    print(f'{len(state)} tensors ({args.format}) -> {args.out}')


if __name__ == '__main__':
    main()
