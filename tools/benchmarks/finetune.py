"""Fine-tune a downstream config (mmseg / mmdet / mmpretrain) from a pretraining checkpoint.

    python tools/benchmarks/finetune.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options ...]

CHECKPOINT may be `none` (random init, for baselines). The backbone is verified to load
completely before training starts, in both directions: every backbone tensor of the model comes
from the checkpoint and every backbone tensor of the checkpoint is used (`--ignore-keys PATTERN`
for deliberate drops); see densepre/transfer/checkpoint.py. The backbone is the one the
checkpoint's method reports (LOCA: its EMA teacher; `--student` / `--teacher` override), printed
at start. The test metrics are written to WORK_DIR/metrics.json.
"""
import argparse
import os

from mmengine.config import DictAction

from densepre.transfer.checkpoint import add_weights_arguments


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help='pretraining checkpoint, or "none" for random init')
    parser.add_argument('--work-dir', help='default: work_dirs/benchmarks/<benchmark>/<ckpt>')
    parser.add_argument('--benchmark', help='name used for the default work dir')
    parser.add_argument('--no-test', action='store_true', help='train only')
    parser.add_argument('--seed', type=int,
                        help='randomness.seed of the run; the work dir gets a seed<S> sub dir')
    parser.add_argument(
        '--scale-lr', action='store_true',
        help='on fewer GPUs than the paper: keep the per-GPU batch and scale the lr linearly '
        '(fewer epochs) instead of the default gradient accumulation, which keeps the paper\'s '
        'effective batch, lr and number of optimizer steps')
    add_weights_arguments(parser)
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle a checkpoint that is not weights-only (runs any code '
                        'the file names: only for files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    from mmengine.dist import get_rank

    from densepre.transfer import run_benchmark
    from densepre.transfer.downstream import shutdown_distributed
    result = run_benchmark(args.config, args.checkpoint, args.work_dir, args.cfg_options,
                           args.launcher, run_test=not args.no_test, benchmark=args.benchmark,
                           batch_mode='scale' if args.scale_lr else 'accumulate', seed=args.seed,
                           teacher=args.teacher, trust=args.trust_checkpoint,
                           ignore_keys=args.ignore_keys)
    rank = get_rank()
    shutdown_distributed()
    if result['metrics'] and rank == 0:
        print('RESULT ' + ' '.join(f'{k}={v:.2f}' for k, v in result['metrics'].items()))
    return result


if __name__ == '__main__':
    main()
