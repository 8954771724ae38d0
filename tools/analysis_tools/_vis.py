"""What the map-over-image visualisers (``visualize_alignment_maps.py``,
``visualize_clove_attention.py``) share: the config and checkpoint, the input image, the
normalised input tensor, and the colour-mapped overlay of a weight map on the image."""
import os
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402


def load_config(path: str, cfg_options=None) -> Config:
    """The config with ``--cfg-options`` merged, densepre's modules registered."""
    from densepre.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_model(cfg, checkpoint: str, method: str, what: str, config_hint: str):
    """The model of ``cfg`` with the weights of ``checkpoint``, in eval mode.

    Refuses a model without ``method`` (``TypeError: <model> has no <what> (use <config_hint>)``)
    and a checkpoint that does not fill it (only the data preprocessor may be missing).
    """
    from densepre.registry import MODELS
    from densepre.transfer.checkpoint import load_state_dict
    model = MODELS.build(cfg.model)
    if not hasattr(model, method):
        raise TypeError(f'{type(model).__name__} has no {what} (use {config_hint})')
    missing, unexpected = model.load_state_dict(load_state_dict(checkpoint), strict=False)
    bad = [k for k in missing if not k.startswith('data_preprocessor')]
    if bad or unexpected:
        raise RuntimeError(f'{checkpoint} does not match {type(model).__name__}: '
                           f'{len(bad)} missing (e.g. {bad[:3]}), {len(unexpected)} unexpected '
                           f'(e.g. {unexpected[:3]})')
    return model.eval()


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


def to_input(images: np.ndarray, cfg) -> torch.Tensor:
    """(N, H, W, 3) RGB uint8 -> normalised (N, 3, H, W) float, as the data preprocessor."""
    pre = cfg.model.get('data_preprocessor', {}) or {}
    mean = torch.tensor(pre.get('mean', [123.675, 116.28, 103.53])).view(1, 3, 1, 1)
    std = torch.tensor(pre.get('std', [58.395, 57.12, 57.375])).view(1, 3, 1, 1)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    return (x - mean) / std


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def overlay(ax, image: np.ndarray, weights: np.ndarray, alpha: float) -> None:
    """``weights`` (upsampled to the image), min-max scaled, as a jet map over ``image``."""
    ax.imshow(image)
    span = max(float(weights.max() - weights.min()), 1e-12)
    ax.imshow((weights - weights.min()) / span, cmap='jet', alpha=alpha, vmin=0, vmax=1)


def save(fig, axes, out_dir: str, name: str) -> str:
    """Axes without ticks; the figure written to ``<out_dir>/<name>`` (made if needed) and
    closed; returns that path."""
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    out_path = osp.join(out_dir, name)
    fig.savefig(out_path, dpi=100)
    pyplot().close(fig)
    return out_path
