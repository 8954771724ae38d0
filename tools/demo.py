"""The embedded default job: a small pretraining + transfer demo that runs on CPU.

    python tools/demo.py [--root data/demo] [--work-dir work_dirs/demo]

1. writes the synthetic demo data (ImageNet-style list, VOC, COCO; see data/demo/README.md);
2. pretrains MoCo v2 with a ResNet-18 on 64-px views through tools/train.py (another method:
   --pretrain-config, e.g. configs/demo/lewel-b_r18_1xb32-64px-40e_demo.py);
3. fine-tunes the real mmseg FCN on the demo VOC split twice -- from random init and from the
   pretraining checkpoint (verified to load completely) -- and evaluates mIoU;
4. prints (and writes to WORK_DIR/results.md) a table: random init vs pretrained.

``--fast auto`` (default) trains both steps with bf16 autocast when the CPU has bf16 instructions
(avx512_bf16 / amx_bf16), with the configs' ``channels_last`` setting; ``--fast on`` asks for bf16
anyway (a CPU without bf16 still falls back to fp32, with one warning); ``--fast off`` runs fp32
in the default memory format (the demo as it was before). Measured gain: docs/benchmarks.md.

Every step logs with MMEngine (progress, ETA); re-running reuses finished steps.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CFG = osp.join(REPO, 'configs/demo/mocov2_r18_1xb32-64px-40e_demo.py')
SEG_CFG = osp.join(REPO, 'configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py')


def run(cmd, env=None):
    print('+ ' + ' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default='data/demo', help='where the demo data are written')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--pretrain-epochs', type=int, default=40)
    parser.add_argument('--seg-iters', type=int, default=300)
    parser.add_argument('--pretrain-config', default=PRETRAIN_CFG)
    parser.add_argument('--seg-config', default=SEG_CFG)
    parser.add_argument('--fast', choices=['auto', 'on', 'off'], default='auto',
                        help='bf16 autocast (auto: if the CPU has bf16 instructions)')
    return parser.parse_args(argv)


def fast_path_options(fast: str) -> list:
    """--cfg-options of both training steps: bf16 autocast (DenseRunner turns AmpOptimWrapper
    into CPU bf16 autocast), or fp32 in the default memory format (AmpOptimWrapper with dtype
    float32 = the fp32 OptimWrapper)."""
    from densepre.engine.amp import cpu_has_bf16
    if fast == 'on' or (fast == 'auto' and cpu_has_bf16()):
        return ['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16']
    return ['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=float32',
            'channels_last=False']


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    py = sys.executable
    sys.path.insert(0, REPO)
    from densepre.demo import make_demo_data

    print(f'[demo] 1/3 synthetic demo data -> {args.root}', flush=True)
    paths = make_demo_data(args.root)
    speed = fast_path_options(args.fast)
    mode = 'bf16 autocast' if 'optim_wrapper.dtype=bfloat16' in speed else 'fp32'
    print(f'[demo] training precision / memory format: {mode} (--fast {args.fast})', flush=True)

    pre_dir = osp.join(args.work_dir, 'pretrain')
    ckpt = osp.join(pre_dir, f'epoch_{args.pretrain_epochs}.pth')
    print(f'[demo] 2/3 pretraining ({args.pretrain_epochs} epochs) -> {pre_dir}', flush=True)
    if not osp.isfile(ckpt):
        run([py, osp.join(REPO, 'tools/train.py'), args.pretrain_config, '--work-dir', pre_dir,
             '--resume', 'auto', '--cfg-options',
             f'train_dataloader.dataset.data_root={paths["imagenet"]}/',
             f'train_cfg.max_epochs={args.pretrain_epochs}',
             f'param_scheduler.0.T_max={args.pretrain_epochs}',
             f'param_scheduler.0.end={args.pretrain_epochs}',
             f'default_hooks.checkpoint.interval={max(1, args.pretrain_epochs // 4)}',
             f'custom_hooks.2.data_root={paths["voc2012"]}',
             'default_hooks.logger.interval=8', *speed], env)
    pretrain_min = (time.time() - start) / 60

    print('[demo] 3/3 transfer: mmseg FCN on the demo VOC split, random init vs pretrained',
          flush=True)
    results = {}
    method = osp.splitext(osp.basename(args.pretrain_config))[0].split('_')[0]
    for name, weights in (('random init', 'none'), (f'{method} (demo pretraining)', ckpt)):
        seg_dir = osp.join(args.work_dir, 'seg_' + ('random' if weights == 'none' else 'pretrained'))
        metrics_file = osp.join(seg_dir, 'metrics.json')
        if not osp.isfile(metrics_file):
            run([py, osp.join(REPO, 'tools/benchmarks/finetune.py'), args.seg_config, weights,
                 '--work-dir', seg_dir, '--cfg-options',
                 f'train_dataloader.dataset.data_root={paths["voc2012"]}',
                 f'val_dataloader.dataset.data_root={paths["voc2012"]}',
                 f'test_dataloader.dataset.data_root={paths["voc2012"]}',
                 f'train_cfg.max_iters={args.seg_iters}', f'train_cfg.val_interval={args.seg_iters}',
                 f'param_scheduler.0.end={args.seg_iters}', *speed], env)
        with open(metrics_file) as f:
            results[name] = json.load(f)['metrics']

    lines = ['| backbone init | mIoU | mAcc | aAcc |', '|---|---|---|---|']
    for name, m in results.items():
        lines.append(f'| {name} | {m["mIoU"]:.2f} | {m["mAcc"]:.2f} | {m["aAcc"]:.2f} |')
    table = '\n'.join(lines)
    total = (time.time() - start) / 60
    note = (f'\nDemo VOC val ({paths["voc2012"]}), ResNet-18 FCN-D8, {args.seg_iters} iterations; '
            f'pretraining {args.pretrain_epochs} epochs on {paths["imagenet"]}; {mode}.\n'
            f'Wall time: {total:.1f} min (pretraining step {pretrain_min:.1f} min). '
            'Synthetic data: the numbers show the pipeline works, not method quality.\n')
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(table + '\n' + note)
    print('\n' + table + note, flush=True)


if __name__ == '__main__':
    main()
