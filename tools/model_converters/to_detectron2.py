"""Convert a densepre pretraining checkpoint's ResNet backbone to a detectron2 pickle.

    python tools/model_converters/to_detectron2.py CKPT OUT.pkl

For users reproducing the papers' detectron2 protocol (MoCo's `convert-pretrain-to-detectron2`
format: numpy arrays under "model", `matching_heuristics` on, RGB input). Pass the pickle as
`MODEL.WEIGHTS` with `INPUT.FORMAT "RGB"` and the ImageNet RGB mean/std.
"""
import argparse
import os
import os.path as osp
import pickle
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('out')
    args = parser.parse_args(argv)
    from densepre.transfer import extract_backbone
    from densepre.transfer.convert import is_vit, resnet_to_detectron2, strip_prefix
    state = strip_prefix(extract_backbone(args.checkpoint))
    if is_vit(state):
        raise ValueError(f'{args.checkpoint} holds a ViT backbone; detectron2 export is for '
                         'ResNets (use export_backbone.py --format timm)')
    model = {k: v.numpy() for k, v in resnet_to_detectron2(state).items()}
    tmp = args.out + '.part'
    with open(tmp, 'wb') as f:
        pickle.dump({'model': model, '__author__': 'densepre', 'matching_heuristics': True}, f)
    os.replace(tmp, args.out)
    print(f'{len(model)} tensors -> {args.out}')


if __name__ == '__main__':
    main()
