"""Draw the NMHSA attention of one feature-map cell of a trained CLoVE model over the image.

Usage::

    python tools/analysis_tools/visualize_clove_attention.py \\
        configs/clove/clove_r50_4xb512-lars_200e.py work_dirs/clove/epoch_200.pth img.jpg \\
        --cell 3 3 --out vis/

One row: the (resized, centre-cropped) input with the chosen cell outlined, the attention of
that cell averaged over the heads, then every head (CLoVE Sec. 3.4: head k weighs cell j by
``softmax_j(σ(q_i, k_j)/τ)``). Weights are bilinearly upsampled to the input and min-max scaled
for display; the peak weight relative to the uniform weight 1/(h·w) is printed under each map.
The model is in eval mode (the checkpoint's BN running statistics; ``--batch-stats`` uses the
image's own). Writes ``<out>/<name>`` (default ``clove_attention.png``) and prints its path.
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
    parser = argparse.ArgumentParser(description='Visualise the NMHSA attention of a CLoVE cell')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='densepre CLoVE pretraining checkpoint (.pth)')
    parser.add_argument('image', help='image file')
    parser.add_argument('--cell', type=int, nargs=2, metavar=('ROW', 'COL'), default=None,
                        help='feature-map cell (default: the centre cell)')
    parser.add_argument('--size', type=int, default=224,
                        help='input side: resize the short side, centre crop (default 224)')
    parser.add_argument('--out', default='vis_clove_attention', help='output directory')
    parser.add_argument('--name', default='clove_attention.png', help='output file name')
    parser.add_argument('--alpha', type=float, default=0.5, help='overlay opacity')
    parser.add_argument('--batch-stats', action='store_true',
                        help="BN with the image's batch statistics instead of the checkpoint's "
                        'running statistics (for short runs)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings (MMEngine syntax)')
    return parser.parse_args(argv)


def render(image: np.ndarray, maps: torch.Tensor, cell, out_dir: str, name: str,
           alpha: float) -> str:
    """maps: (heads, h, w) attention of ``cell``."""
    plt = pyplot()
    from matplotlib.patches import Rectangle
    heads, h, w = maps.shape
    size = image.shape[0]
    panels = [('mean of heads', maps.mean(0))] + [(f'head {k}', maps[k]) for k in range(heads)]
    up = F.interpolate(torch.stack([m for _, m in panels])[:, None], size=(size, size),
                       mode='bilinear', align_corners=False)[:, 0]
    cols = len(panels) + 1
    fig, axes = plt.subplots(1, cols, figsize=(2.0 * cols, 2.4), squeeze=False)
    axes = axes[0]
    axes[0].imshow(image)
    axes[0].add_patch(Rectangle((cell[1] * size / w, cell[0] * size / h), size / w, size / h,
                                fill=False, edgecolor='red', linewidth=2))
    axes[0].set_title(f'input, cell {tuple(cell)}', fontsize=8)
    for ax, (title, m), u in zip(axes[1:], panels, up):
        overlay(ax, image, u.numpy(), alpha)
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f'peak {float(m.max()) * h * w:.2f}x uniform', fontsize=6)
    return save(fig, axes, out_dir, name)


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg, args.checkpoint, 'attention', 'NMHSA predictor', 'a CLoVE config')
    image = load_image(args.image, args.size)
    if args.batch_stats:
        model.train()
    with torch.no_grad():
        attn = model.attention(to_input(image[None], cfg))[0].float()  # (heads, h, w, h, w)
    h, w = attn.shape[1:3]
    cell = args.cell if args.cell is not None else [h // 2, w // 2]
    if not (0 <= cell[0] < h and 0 <= cell[1] < w):
        raise SystemExit(f'--cell {cell[0]} {cell[1]}: the feature map is {h}x{w} at --size '
                         f'{args.size}')
    out_path = render(image, attn[:, cell[0], cell[1]], cell, args.out, args.name, args.alpha)
    print(out_path)
    return out_path


if __name__ == '__main__':
    main()
