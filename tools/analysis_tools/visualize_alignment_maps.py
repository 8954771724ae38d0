"""Overlay LEWEL alignment maps on images (the paper's appendix Fig. 5) and save a PNG grid.

Usage::

    python tools/analysis_tools/visualize_alignment_maps.py \\
        configs/lewel/lewel_b_r50_8xb64_200e.py work_dirs/lewel_b_r50_8xb64_200e/epoch_200.pth \\
        img1.jpg img2.jpg --out vis/ --maps 0 1 2 3 8 16

One row per image: the (resized, centre-cropped) input, then the chosen alignment maps
(bilinearly upsampled to the input, colour-mapped, alpha-blended). Map ``j`` (0-based) is the
softmax map that pools channel group ``j % h`` of aligned embedding ``j // h`` (LEWEL Eq. 2);
its title reads ``map j (k=j//h, g=j%h)``. Each map is min-max scaled for display and its peak
weight (relative to the uniform weight 1/HW) is printed under it.

The model is put in eval mode (BN running statistics of the checkpoint; ``--batch-stats`` uses
the statistics of the given images instead). ``--target`` shows the
momentum / target network's maps instead of the online network's. Writes
``<out>/alignment_maps.png`` (``--name`` to change) and prints its path.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _vis import build_model, load_config, load_image, overlay, pyplot, save, to_input  # noqa: E402
from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise LEWEL alignment maps')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='densepre pretraining checkpoint (.pth)')
    parser.add_argument('images', nargs='+', help='image files')
    parser.add_argument('--out', default='vis_alignment_maps', help='output directory')
    parser.add_argument('--name', default='alignment_maps.png', help='output file name')
    parser.add_argument('--maps', type=int, nargs='+', default=None,
                        help='map indices to show (default: the first 8)')
    parser.add_argument('--size', type=int, default=224,
                        help='input side: resize the short side, centre crop (default 224)')
    parser.add_argument('--target', action='store_true', help='maps of the target network')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    parser.add_argument('--batch-stats', action='store_true',
                        help="normalise with the given images' BN batch statistics instead of "
                        "the checkpoint's running statistics (for short runs)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings (MMEngine syntax)')
    return parser.parse_args(argv)


def render(images: np.ndarray, maps: torch.Tensor, indices, num_groups: int, out_dir: str,
           name: str, alpha: float) -> str:
    plt = pyplot()
    n, size = images.shape[0], images.shape[1]
    hw = maps.shape[-2] * maps.shape[-1]
    up = F.interpolate(maps[:, indices], size=(size, size), mode='bilinear',
                       align_corners=False)
    cols = len(indices) + 1
    fig, axes = plt.subplots(n, cols, figsize=(2.0 * cols, 2.2 * n), squeeze=False)
    for r in range(n):
        axes[r, 0].imshow(images[r])
        axes[r, 0].set_title('input', fontsize=8)
        for c, j in enumerate(indices, 1):
            overlay(axes[r, c], images[r], up[r, c - 1].numpy(), alpha)
            axes[r, c].set_title(f'map {j} (k={j // num_groups}, g={j % num_groups})',
                                 fontsize=7)
            peak = float(maps[r, j].max()) * hw
            axes[r, c].set_xlabel(f'peak {peak:.2f}x uniform', fontsize=6)
    return save(fig, axes.flat, out_dir, name)


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, 'alignment_maps', 'alignment maps',
                        'a LEWEL config')
    images = np.stack([load_image(p, args.size) for p in args.images])
    if args.batch_stats:
        model.train()
    with torch.no_grad():
        maps = model.alignment_maps(to_input(images, cfg), target=args.target)
    indices = args.maps if args.maps is not None else list(range(min(8, maps.shape[1])))
    bad = [j for j in indices if not 0 <= j < maps.shape[1]]
    if bad:
        raise SystemExit(f'--maps {bad}: the model has {maps.shape[1]} maps (0..'
                         f'{maps.shape[1] - 1})')
    out_path = render(images, maps.float().cpu(), indices, model.num_groups, args.out,
                      args.name, args.alpha)
    print(out_path)
    return out_path


if __name__ == '__main__':
    main()
