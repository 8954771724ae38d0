# Copyright (c) densepre contributors. All rights reserved.
"""Write the synthetic, license-free demo datasets (ImageNet/VOC/COCO and DAVIS-2017 formats).

Example::

    python tools/make_demo_data.py --root data/demo
"""
import argparse
import os.path as osp
import time

from densepre.demo import make_demo_data, make_demo_davis


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate synthetic demo data in the ImageNet, Pascal '
        'VOC, COCO and DAVIS-2017 on-disk formats')
    parser.add_argument('--root', default='data/demo', help='output dir')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--image-size', type=int, default=96,
                        help='shorter image side')
    parser.add_argument('--num-pretrain', type=int, default=256,
                        help='ImageNet-style pretraining images')
    parser.add_argument('--num-seg-train', type=int, default=64,
                        help='VOC2012 segmentation train images')
    parser.add_argument('--num-seg-val', type=int, default=32,
                        help='VOC2012 segmentation val images')
    parser.add_argument('--num-det-train', type=int, default=None,
                        help='VOC2007 trainval / COCO train2017 images '
                        '(default: --num-seg-train)')
    parser.add_argument('--num-det-val', type=int, default=None,
                        help='VOC2007 test / COCO val2017 images '
                        '(default: --num-seg-val)')
    parser.add_argument('--num-davis-val', type=int, default=3,
                        help='DAVIS-2017-layout val videos (<root>/DAVIS; 0: none)')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if complete data exist')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    paths = make_demo_data(
        args.root,
        num_pretrain=args.num_pretrain,
        num_seg_train=args.num_seg_train,
        num_seg_val=args.num_seg_val,
        num_det_train=args.num_det_train,
        num_det_val=args.num_det_val,
        image_size=args.image_size,
        seed=args.seed,
        overwrite=args.overwrite)
    if args.num_davis_val:
        davis = make_demo_davis(osp.join(args.root, 'DAVIS'), num_val=args.num_davis_val,
                                seed=args.seed)
        paths['davis'] = davis['root']
    width = max(map(len, paths))
    for key, path in paths.items():
        print(f'{key:<{width}}  {path}')
    print(f'done in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
