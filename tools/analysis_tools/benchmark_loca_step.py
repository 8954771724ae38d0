"""LOCA's training step vs the student's forward + backward alone, on the same views (CPU).

One process, interleaved repetitions (A, B, C, ... A, B, C, ...), medians; every time is reported
as a ratio to the baseline measured in the same run:

* ``student``   — baseline: the student ViT on the query views (one pass per size, the 224 query's
  tokens dropped to ``query_keep_tokens``) + backward of a scalar of its tokens;
* ``loca_step`` — ``model.loss`` (EMA update, teacher on the reference, masking, tracker, position
  and cluster heads, Sinkhorn) + backward;
and the parts of the extra time, each timed alone on the same tensors:
* ``teacher``       — EMA update + teacher backbone on the reference (no grad);
* ``cross_attention`` — position head (cross-attention block + classifier) forward + backward;
* ``cluster_heads`` — teacher cluster head on the reference + student cluster head fwd + bwd;
* ``sinkhorn``      — softmax + Sinkhorn-Knopp on the teacher logits.

Usage (ViT-S/16, 224 reference + 224 query + 9 focal 96 queries, batch 4)::

    python tools/analysis_tools/benchmark_loca_step.py \\
        configs/loca/loca_vit-s16_16xb64_600e_in1k.py --batch 4 --iters 5 --threads 2
"""
import argparse
import json
import statistics
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MessageHub
from mmengine.structures import BaseDataElement


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    p.add_argument('--out', help='write the results as JSON here')
    return p.parse_args(argv)


def view_specs(cfg):
    """[(group name, size)] per view from the config's GeoMultiView."""
    views = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'GeoMultiView'][0]
    specs = []
    for group in views['views']:
        crop = [t for t in group['transforms'] if t['type'] == 'GeoRandomResizedCrop'][0]
        specs += [(group['name'], int(crop['scale']))] * int(group.get('num', 1))
    return specs


def make_batch(specs, batch, gen):
    """Random images and plausible geometries: the reference covers the middle of a 400 px
    image, each query a random box of its size ratio (some patches fall outside)."""
    inputs = [torch.randn(batch, 3, s, s, generator=gen) for _, s in specs]
    samples = []
    for _ in range(batch):
        geoms = []
        for name, s in specs:
            side = 300. if name == 'reference' else (250. if s >= 224 else 80.)
            x1, y1 = (torch.rand(2, generator=gen) * (400 - side)).tolist()
            flip = 0. if name == 'reference' else float(torch.rand(1, generator=gen) < 0.5)
            geoms.append([x1, y1, x1 + side, y1 + side, flip, s, s, 0.])
        ds = BaseDataElement()
        ds.set_field(torch.tensor(geoms).numpy(), 'view_geometry')
        ds.set_field(tuple(n for n, _ in specs), 'view_groups')
        samples.append(ds)
    return inputs, samples


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from densepre.registry import MODELS
    from densepre.utils import register_all_modules
    register_all_modules()
    from densepre.models.utils.masking import gather_tokens, visible_token_indices
    MessageHub.get_current_instance().update_info('max_iters', 10**6)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    specs = view_specs(cfg)
    inputs, samples = make_batch(specs, args.batch, torch.Generator().manual_seed(args.seed))
    ref = inputs[[n for n, _ in specs].index('reference')]
    queries = [x for (n, _), x in zip(specs, inputs) if n == 'query']
    by_size = {}
    for q in queries:
        by_size.setdefault(q.shape[-1], []).append(q)
    query_batches = [torch.cat(v) for v in by_size.values()]
    model.teacher.update(model.online_modules())  # first update copies

    def student():
        loss = 0.
        for x in query_batches:
            tokens, _, _ = model.backbone.forward_tokens(x, model.query_keep_tokens)
            loss = loss + tokens.float().pow(2).mean()
        loss.backward()

    def loca_step():
        losses = model.loss(inputs, samples)
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()

    # fixed tensors for the parts
    with torch.no_grad():
        ref_tokens, _, _ = model.teacher['backbone'].forward_tokens(ref)
        keep = model.num_visible(ref_tokens.shape[1])
        kv = gather_tokens(ref_tokens, visible_token_indices(ref.shape[0], ref_tokens.shape[1],
                                                             keep, model.reference_masking))
        q_tokens = [model.backbone.forward_tokens(x, model.query_keep_tokens)[0].detach()
                    for x in query_batches]
        t_logits = model.teacher['cluster_head'](ref_tokens) \
            if model.cluster_head is not None else None

    def teacher():
        with torch.no_grad():
            model.teacher.update(model.online_modules())
            model.teacher['backbone'].forward_tokens(ref)

    def cross_attention():
        out = 0.
        for t in q_tokens:
            k = t.shape[0] // ref.shape[0]
            out = out + model.position_head(t.requires_grad_(True), kv.repeat(k, 1, 1)).mean()
        out.backward()

    def cluster_heads():
        with torch.no_grad():
            model.teacher['cluster_head'](ref_tokens)
        out = sum(model.cluster_head(t.requires_grad_(True)).mean() for t in q_tokens)
        out.backward()

    def sinkhorn():
        model.cluster_head.targets(t_logits)

    parts = dict(student=student, loca_step=loca_step, teacher=teacher)
    if model.position_head is not None:
        parts['cross_attention'] = cross_attention
    if model.cluster_head is not None:
        parts.update(cluster_heads=cluster_heads, sinkhorn=sinkhorn)
    times = {k: [] for k in parts}
    for it in range(args.warmup + args.iters):
        for name, fn in parts.items():
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            fn()
            if it >= args.warmup:
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med['student']
    result = dict(
        config=args.config, batch=args.batch, threads=args.threads, iters=args.iters,
        views=[f'{n}:{s}' for n, s in specs],
        median_s={k: round(v, 4) for k, v in med.items()},
        ratio_to_student={k: round(v / base, 3) for k, v in med.items()})
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
