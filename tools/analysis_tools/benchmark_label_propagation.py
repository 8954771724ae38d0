"""Speed of DAVIS label propagation on frozen features: frames/s, and the tiled radius-window
propagation against the dense masked affinity of the videowalk release, measured in one run.

    python tools/analysis_tools/benchmark_label_propagation.py [CKPT] [--frames 6]
        [--height 480 --width 854] [--repeats 2] [--threads 1] [--json OUT]

Without CKPT a randomly initialised ResNet-50 checkpoint is written to a temp dir (speed does not
depend on the weights). One synthetic DAVIS-layout video of ``--frames`` frames at
``height x width`` (``densepre.demo.make_demo_davis``) goes through the frozen backbone (stride 8,
the tool's default dilated ResNet) and then through the propagation with the protocol's settings;
the tiled and the dense propagation alternate ``--repeats`` times (same inputs, same load) and
their outputs are compared. frames/s = frames / (feature time + tiled propagation time).
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'benchmarks'))


def random_r50(path):
    from densepre.registry import MODELS
    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model = MODELS.build(dict(type='ResNet', depth=50))
    model.init_weights()
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model.state_dict().items()}}, path)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkpoint', nargs='?')
    p.add_argument('--frames', type=int, default=6)
    p.add_argument('--height', type=int, default=480)
    p.add_argument('--width', type=int, default=854)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--no-dense', action='store_true', help='skip the dense baseline (it holds '
                   'the full (21 h w) x (h w) affinity: 3.5 GB at 480p)')
    p.add_argument('--json')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import davis_propagation as dp
    from densepre.demo import make_demo_davis
    from densepre.evaluation import load_frozen_backbone
    from densepre.evaluation import label_propagation as lp
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or random_r50(osp.join(tmp, 'r50.pth'))
        root = make_demo_davis(osp.join(tmp, 'DAVIS'), num_train=0, num_val=1,
                               num_frames=args.frames, height=args.height,
                               width=args.width)['root']
        backbone = load_frozen_backbone(ckpt, log=lambda m: print(f'[bench] {m}'))
        frames_p, anns = dp.sequence_files(root, '480p', 'val-000')
        frames = dp.read_frames(frames_p)
        t0 = time.perf_counter()
        feats = dp.frame_features(backbone, frames, 1, 'cpu')
        feat_s = time.perf_counter() - t0
        _, first = dp.first_frame_labels(dp.read_mask(anns[0]), feats.shape[-2:])
    times = {'tiled': [], 'dense': []}
    outs = {}
    modes = (('tiled', 16), ) if args.no_dense else (('tiled', 16), ('dense', None))
    for _ in range(args.repeats):
        for name, tile in modes:
            t0 = time.perf_counter()
            outs[name] = lp.propagate_labels(feats, first, tile=tile)
            times[name].append(time.perf_counter() - t0)
    tiled = statistics.median(times['tiled'])
    n = len(frames)
    res = dict(backbone=backbone.description, frames=n, size=[args.height, args.width],
               feature_grid=list(feats.shape[-2:]), channels=feats.shape[1],
               threads=args.threads, feature_s_per_frame=feat_s / n,
               propagation_s_per_frame=dict(tiled=tiled / (n - 1)),
               frames_per_s=n / (feat_s + tiled))
    if not args.no_dense:
        dense = statistics.median(times['dense'])
        res['propagation_s_per_frame']['dense'] = dense / (n - 1)
        res.update(dense_over_tiled=dense / tiled,
                   max_abs_diff=float((outs['tiled'] - outs['dense']).abs().max()),
                   same_argmax=bool(torch.equal(outs['tiled'].argmax(1),
                                                outs['dense'].argmax(1))))
    print(json.dumps(res, indent=2))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    main()
