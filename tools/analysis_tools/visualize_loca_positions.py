"""Draw LOCA's position predictions (paper Fig. 6 / 7): for one image, the query view and the
reference view side by side; on the reference, the true location of every query patch that
intersects it (blue, from the patch tracker) and the predicted one (red, argmax of the position
head); reference patches hidden from the query by the masking are darkened.

The reference is encoded by the EMA teacher and the query by the student (eval mode, no token
dropping), exactly the two branches of the training step; the masking draw is seeded.

    python tools/analysis_tools/visualize_loca_positions.py CONFIG CHECKPOINT IMAGE [IMAGE ...] \\
        --out-dir work_dirs/loca_positions [--query 1] [--seed 0]

Writes ``<out-dir>/<image name>_positions.png`` per image and prints the position accuracy on
the intersecting query patches.
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate

BLUE, RED = (255, 0, 0), (0, 0, 255)  # BGR


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('images', nargs='+')
    p.add_argument('--out-dir', default='work_dirs/loca_positions')
    p.add_argument('--query', type=int, default=0,
                   help="which view of the 'query' group to show (0: the full-size query)")
    p.add_argument('--seed', type=int, default=0, help='seed of the views and the masking')
    return p.parse_args(argv)


def cell_box(index, grid_w, patch):
    r, c = divmod(int(index), grid_w)
    return c * patch, r * patch, (c + 1) * patch - 1, (r + 1) * patch - 1


@torch.no_grad()
def predict(model, inputs, samples, query):
    """(reference image, query image, targets, predictions, visible reference cells, grids)."""
    from densepre.models.utils.correspondence import stack_geometries
    from densepre.models.utils.masking import gather_tokens, visible_token_indices
    from densepre.models.utils.multiview import MultiViewBatch
    from densepre.models.utils.patch_tracker import track_patches
    views = MultiViewBatch(inputs, samples)
    ref_i, q_i = views.indices('reference')[0], views.indices('query')[query]
    geom = stack_geometries(samples)
    ref_tokens, _, ref_hw = model.teacher['backbone'].forward_tokens(inputs[ref_i])
    n = ref_tokens.shape[1]
    visible = visible_token_indices(1, n, model.num_visible(n),
                                    model.reference_masking)
    q_tokens, _, q_hw = model.backbone.forward_tokens(inputs[q_i])
    logits = model.position_head(q_tokens, gather_tokens(ref_tokens, visible))
    targets = track_patches(geom[:, q_i], q_hw, geom[:, ref_i], ref_hw, model.patch_size)
    return ref_i, q_i, targets[0], logits[0].argmax(-1), visible[0], ref_hw, q_hw


def draw(ref_img, q_img, targets, preds, visible, ref_hw, q_hw, patch):
    ref = ref_img.astype(np.float32)
    dim = np.full(ref_hw[0] * ref_hw[1], 0.35, np.float32)
    dim[visible.numpy()] = 1.0
    ref *= np.kron(dim.reshape(ref_hw), np.ones((patch, patch), np.float32))[..., None]
    ref = np.ascontiguousarray(ref.clip(0, 255).astype(np.uint8))
    q = q_img.astype(np.float32)
    inside = np.kron((targets.numpy() >= 0).reshape(q_hw).astype(np.float32) * 0.65 + 0.35,
                     np.ones((patch, patch), np.float32))[..., None]
    q = np.ascontiguousarray((q * inside).clip(0, 255).astype(np.uint8))
    up = max(1, 448 // ref.shape[1])  # small (demo) views are enlarged, nearest-neighbour
    if up > 1:
        ref = np.ascontiguousarray(np.kron(ref, np.ones((up, up, 1), np.uint8)))
        q = np.ascontiguousarray(np.kron(q, np.ones((up, up, 1), np.uint8)))
        patch *= up
    for t, p in zip(targets.tolist(), preds.tolist()):
        if t < 0:
            continue
        x1, y1, x2, y2 = cell_box(t, ref_hw[1], patch)
        cv2.rectangle(ref, (x1, y1), (x2, y2), BLUE, 1)
        x1, y1, x2, y2 = cell_box(p, ref_hw[1], patch)
        cv2.rectangle(ref, (x1 + 2, y1 + 2), (x2 - 2, y2 - 2), RED, 1)
    h = ref.shape[0]
    scale = h / q.shape[0]
    q = cv2.resize(q, (int(round(q.shape[1] * scale)), h), interpolation=cv2.INTER_NEAREST)
    gap = np.full((h, 8, 3), 255, np.uint8)
    return np.concatenate([q, gap, ref], axis=1)


def main(argv=None):
    args = parse_args(argv)
    from densepre.registry import MODELS
    from densepre.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    model = MODELS.build(cfg.model)
    if model.position_head is None:
        raise ValueError(f'{args.config}: the model has no position head to visualise')
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    # weights-only, checksum-verified; DENSEPRE_TRUST_CHECKPOINT=1 for a trusted legacy file
    from densepre.engine.checkpoint_io import read_checkpoint
    ckpt = read_checkpoint(args.checkpoint)
    model.load_state_dict(ckpt.get('state_dict', ckpt), strict=True)
    model.eval()
    pipeline = Compose(cfg.train_dataloader.dataset.pipeline)
    os.makedirs(args.out_dir, exist_ok=True)
    written, hits, total = [], 0, 0
    for path in args.images:
        if not osp.isfile(path):
            raise FileNotFoundError(f'image not found: {path}')
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        packed = pipeline(dict(img_path=path))
        raw = [v.permute(1, 2, 0).numpy() for v in packed['inputs']]  # BGR uint8 views
        data = model.data_preprocessor(default_collate([packed]), training=False)
        ref_i, q_i, targets, preds, visible, ref_hw, q_hw = predict(
            model, data['inputs'], data['data_samples'], args.query)
        valid = targets >= 0
        hits += int((preds[valid] == targets[valid]).sum())
        total += int(valid.sum())
        canvas = draw(raw[ref_i], raw[q_i], targets, preds, visible, ref_hw, q_hw,
                      model.patch_size)
        out = osp.join(args.out_dir, osp.splitext(osp.basename(path))[0] + '_positions.png')
        cv2.imwrite(out, canvas)
        written.append(out)
        print(f'{out}: {int(valid.sum())} intersecting query patches, '
              f'{int((preds[valid] == targets[valid]).sum())} predicted exactly')
    print(f'position accuracy {hits}/{total}')
    return written, hits, total


if __name__ == '__main__':
    main()
