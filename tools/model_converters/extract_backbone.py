"""Extract the backbone of a densepre pretraining checkpoint (tensors only).

    python tools/model_converters/extract_backbone.py CKPT OUT.pth [--strip-prefix]
        [--student|--teacher]

Keeps the backbone the checkpoint's method reports (LOCA: its EMA teacher, as `backbone.*`; the
others: the online `backbone.*`), dropping the other copies and the heads; `--student` /
`--teacher` force the online / the EMA teacher's backbone. The output loads with
`torch.load(weights_only=True)`; by default it keeps the `backbone.` prefix so downstream configs
use `init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')`. With
--strip-prefix the keys are plain torchvision/mmpretrain ResNet names.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    parser.add_argument('--strip-prefix', action='store_true')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--teacher', dest='teacher', action='store_const', const=True,
                       help="the EMA teacher's backbone")
    which.add_argument('--student', dest='teacher', action='store_const', const=False,
                       help='the online backbone. Default: the backbone the checkpoint\'s method '
                       'reports (LOCA: its teacher; the others: online), printed')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle a checkpoint that is not weights-only (only for files '
                        'you trust)')
    args = parser.parse_args(argv)
    import torch

    from densepre.transfer import extract_backbone
    state = extract_backbone(args.checkpoint, None if args.strip_prefix else args.out,
                             trust=args.trust_checkpoint, teacher=args.teacher, log=print)
    if args.strip_prefix:
        state = {k[len('backbone.'):]: v for k, v in state.items()}
        torch.save({'state_dict': state}, args.out)
    n = sum(v.numel() for v in state.values())
    print(f'{len(state)} tensors ({n / 1e6:.2f} M values) -> {args.out}')


if __name__ == '__main__':
    main()
