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
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402


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


def load_image(path: str, size: int) -> np.ndarray:
    """RGB uint8 (size, size, 3): short side resized to ``size``, centre crop."""
    from PIL import Image
    img = Image.open(path).convert('RGB')
    w, h = img.size
    scale = size / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                     Image.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def build_model(cfg, checkpoint: str):
    from densepre.registry import MODELS
    from densepre.transfer.checkpoint import load_state_dict
    model = MODELS.build(cfg.model)
    if not hasattr(model, 'alignment_maps'):
        raise TypeError(f'{type(model).__name__} has no alignment maps (use a LEWEL config)')
    state = load_state_dict(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith('data_preprocessor')]
    if bad or unexpected:
        raise RuntimeError(f'{checkpoint} does not match {type(model).__name__}: '
                           f'{len(bad)} missing (e.g. {bad[:3]}), {len(unexpected)} unexpected '
                           f'(e.g. {unexpected[:3]})')
    return model.eval()


def to_input(images: np.ndarray, cfg) -> torch.Tensor:
    """(N, H, W, 3) RGB uint8 -> normalised (N, 3, H, W) float, as the data preprocessor."""
    pre = cfg.model.get('data_preprocessor', {}) or {}
    mean = torch.tensor(pre.get('mean', [123.675, 116.28, 103.53])).view(1, 3, 1, 1)
    std = torch.tensor(pre.get('std', [58.395, 57.12, 57.375])).view(1, 3, 1, 1)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    return (x - mean) / std


def render(images: np.ndarray, maps: torch.Tensor, indices, num_groups: int, out_path: str,
           alpha: float) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
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
            m = up[r, c - 1].numpy()
            m = (m - m.min()) / max(float(m.max() - m.min()), 1e-12)
            axes[r, c].imshow(images[r])
            axes[r, c].imshow(m, cmap='jet', alpha=alpha, vmin=0, vmax=1)
            axes[r, c].set_title(f'map {j} (k={j // num_groups}, g={j % num_groups})',
                                 fontsize=7)
            peak = float(maps[r, j].max()) * hw
            axes[r, c].set_xlabel(f'peak {peak:.2f}x uniform', fontsize=6)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def main(argv=None) -> str:
    args = parse_args(argv)
    from densepre.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg, args.checkpoint)
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
    os.makedirs(args.out, exist_ok=True)
    out_path = osp.join(args.out, args.name)
    render(images, maps.float().cpu(), indices, model.num_groups, out_path, args.alpha)
    print(out_path)
    return out_path


if __name__ == '__main__':
    main()
