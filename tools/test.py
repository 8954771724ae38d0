"""Evaluate a trained densepre / mmseg / mmdet / mmpretrain model from a config and a checkpoint
(flags compatible with mmpretrain's tools/test.py; the entry point of ``mim test densepre``)."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump the metrics to this json file')
    parser.add_argument(
        '--trust-checkpoint', action='store_true',
        help='fully unpickle the checkpoint (runs any code the file names: only for files you '
        'trust); densepre checkpoints load weights-only')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    from densepre.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    for key in ('test_dataloader', 'test_cfg', 'test_evaluator'):
        if cfg.get(key) is None:
            raise KeyError(f'{args.config} has no `{key}`: it is not an evaluation config '
                           '(pretraining configs are evaluated through the benchmarks, '
                           'tools/benchmarks/)')
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.trust_checkpoint:
        cfg.trust_checkpoint = True
    cfg.launcher = args.launcher
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from densepre.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    metrics = runner.test()
    if args.out:
        import json
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=1)
    return metrics


if __name__ == '__main__':
    main()
