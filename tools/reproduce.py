"""One paper table, end to end: pretraining -> backbone extraction -> every transfer benchmark of
the table with the paper's schedule -> the table, the paper's numbers beside densepre's.

    python tools/reproduce.py PAPER TABLE [--ckpt CKPT | --pretrain-config CFG] [--gpus N]
        [--launcher none|pytorch|slurm] [--seeds K] [--work-dir DIR] [--dry-run] [--demo]
        [--pretrain-options KEY=VALUE ...] [--list]

Stages (each writes ``<work-dir>/.done/<stage>`` when it succeeded, so a re-run resumes at the
first unfinished one; ``--dry-run`` prints every command and runs nothing):

1. ``pretrain``: ``tools/train.py`` (1 GPU / CPU), ``tools/dist_train.sh`` (``--launcher
   pytorch``) or ``tools/slurm_train.sh`` (``--launcher slurm``, ``PARTITION`` from the
   environment) on the table's pretraining config -- skipped with ``--ckpt`` (e.g. a checkpoint
   imported with ``tools/model_converters/import_checkpoint.py``);
2. ``extract``: ``tools/model_converters/extract_backbone.py`` -- the EMA teacher's backbone where
   the paper reports it (LOCA), the online one otherwise;
3. one stage per benchmark of the table (``tools/benchmarks/*``), each in its own work dir;
4. ``summarize``: ``tools/benchmarks/summarize.py`` over those work dirs (also written to
   ``<work-dir>/table.md``).

``--demo`` substitutes the CPU demo configs and the synthetic demo data (``tools/make_demo_data.py``
writes them first), for the tables whose benchmarks have a demo counterpart.
Detectron2-only tables (CLoVE Tables 5 and 7: keypoints, DensePose) print the detectron2 commands
(``configs/benchmarks/detectron2/``) instead of running them.
"""
import argparse
import glob
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
B = 'tools/benchmarks'
DEMO_DATA = 'data/demo'


def bench(name: str, cmd: List[str], demo: Optional[List[str]] = None, env=None,
          demo_env=None) -> dict:
    """A benchmark stage: ``cmd`` with ``{ckpt}``, ``{gpus}``, ``{work_dir}``, ``{data}`` (the
    demo data root) placeholders; ``demo`` is the demo-mode command (None: no demo counterpart)."""
    return dict(name=name, cmd=cmd, demo=demo, env=env or {}, demo_env=demo_env or {})


VOC_SEG = bench(
    'voc_seg', [f'{B}/voc_seg.sh', '{ckpt}', '{gpus}', '{seeds}', '--work-dir', '{work_dir}'],
    demo=[f'{B}/voc_seg.sh', '{ckpt}', '1', '--work-dir', '{work_dir}', '--cfg-options',
          'train_dataloader.dataset.data_root={data}/VOCdevkit/VOC2012',
          'val_dataloader.dataset.data_root={data}/VOCdevkit/VOC2012',
          'test_dataloader.dataset.data_root={data}/VOCdevkit/VOC2012'],
    demo_env=dict(CONFIG='configs/demo/fcn_r18-d8_1xb8-300it_demo-voc-96x96.py'))
VOC_DET = bench(
    'voc_det', [f'{B}/voc_det.sh', '{ckpt}', '{gpus}', '{seeds}', '--work-dir', '{work_dir}'],
    demo=[f'{B}/voc_det.sh', '{ckpt}', '1', '--work-dir', '{work_dir}'],
    demo_env=dict(CONFIG='configs/demo/faster-rcnn_r18-c4_1xb2-ms-200it_demo-voc0712.py'))


def coco(arch, sched):
    return bench(f'coco_det_{arch}_{sched}',
                 [f'{B}/coco_det.sh', '{ckpt}', arch, sched, '{gpus}', '{seeds}', '--work-dir',
                  '{work_dir}'],
                 demo=[f'{B}/coco_det.sh', '{ckpt}', '--work-dir', '{work_dir}'] if arch == 'fpn'
                 else None,
                 demo_env=dict(CONFIG='configs/demo/mask-rcnn_r18_fpn_1xb2-ms-200it_demo-coco.py'))


def semi(pct):
    return bench(f'semi_cls_{pct}pct', [f'{B}/semi_cls.sh', '{ckpt}', str(pct), '{gpus}',
                                       '{seeds}', '--work-dir', '{work_dir}'])


def loca_linear(dataset):
    return bench(f'{dataset}_linear', [f'{B}/ade20k_linear.sh', '{ckpt}', '{gpus}', '--dataset',
                                       dataset, '{seeds}', '--work-dir', '{work_dir}'])


DAVIS = bench(
    'davis2017_propagation', ['python', f'{B}/davis_propagation.py', '{ckpt}', '--out-dir',
                              '{work_dir}'],
    demo=['python', f'{B}/davis_propagation.py', '{ckpt}', '--data-root', '{data}/DAVIS',
          '--out-dir', '{work_dir}'])
RETRIEVAL = bench(
    'voc12_segment_retrieval', ['python', f'{B}/segment_retrieval.py', '{ckpt}', '--out-dir',
                                '{work_dir}'],
    demo=['python', f'{B}/segment_retrieval.py', '{ckpt}', '--data-root',
          '{data}/VOCdevkit/VOC2012', '--train-split', 'train', '--train-labels',
          'SegmentationClass', '--img-size', '96', '--out-dir', '{work_dir}'])
REV_VOC = bench(
    'voc_seg_revisiting', [f'{B}/voc_seg.sh', '{ckpt}', '{gpus}', '{seeds}', '--benchmark',
                           'voc_seg_revisiting', '--work-dir', '{work_dir}'],
    env=dict(CONFIG='configs/benchmarks/mmsegmentation/voc12aug/'
             'fcn-revisiting_r50-d16_4xb4-45e_voc12aug-513x513.py'))
REV_CITY = bench('cityscapes_seg', [f'{B}/cityscapes_seg.sh', '{ckpt}', '{gpus}', '{seeds}',
                                    '--work-dir', '{work_dir}'])
REV_SVM = bench('feature_probe_voc07', ['python', f'{B}/feature_probe.py', '{ckpt}', '--data',
                                        'voc07', '--out-dir', '{work_dir}'],
                demo=['python', f'{B}/feature_probe.py', '{ckpt}', '--data', 'voc07',
                      '--data-root', '{data}/VOCdevkit/VOC2007', '--img-size', '64',
                      '--out-dir', '{work_dir}'])
REV_LIN = bench('linear_cls_moco', [f'{B}/linear_cls.sh', '{ckpt}', '{gpus}', '--protocol', 'moco',
                                    '--work-dir', '{work_dir}'])

D2 = 'configs/benchmarks/detectron2'
TABLES: Dict[str, Dict[str, dict]] = {
    'lewel': {
        '2': dict(caption='LEWEL Table 2: semi-supervised ImageNet-1k (1 % / 10 % labels)',
                  pretrain='configs/lewel/lewel_b_r50_8xb64_200e.py',
                  benchmarks=[semi(1), semi(10)]),
        '3': dict(caption='LEWEL Table 3: VOC07+12 Faster R-CNN R50-C4, VOC12aug FCN',
                  pretrain='configs/lewel/lewel_b_r50_8xb64_200e.py',
                  demo_pretrain='configs/demo/lewel-b_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[VOC_DET, VOC_SEG]),
        '4': dict(caption='LEWEL Table 4: COCO Mask R-CNN R50-C4 1x / R50-FPN 1x',
                  pretrain='configs/lewel/lewel_b_r50_8xb64_200e.py',
                  demo_pretrain='configs/demo/lewel-b_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[coco('c4', '1x'), coco('fpn', '1x')]),
    },
    'clove': {
        '1': dict(caption='CLoVE Table 1: COCO Mask R-CNN R50-C4 1x',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py',
                  benchmarks=[coco('c4', '1x')]),
        '2': dict(caption='CLoVE Table 2: COCO Mask R-CNN R50-FPN 1x',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py',
                  demo_pretrain='configs/demo/clove_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[coco('fpn', '1x')]),
        '3': dict(caption='CLoVE Table 3: Cityscapes instance segmentation, Mask R-CNN R50-FPN',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py',
                  benchmarks=[bench('cityscapes_det', [f'{B}/cityscapes_det.sh', '{ckpt}',
                                                       '{gpus}', '{seeds}', '--work-dir',
                                                       '{work_dir}'])]),
        '4': dict(caption='CLoVE Table 4: LVIS v1 Mask R-CNN R50-FPN',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py',
                  benchmarks=[bench('lvis_det', [f'{B}/lvis_det.sh', '{ckpt}', '{gpus}',
                                                 '{seeds}', '--work-dir', '{work_dir}'])]),
        '5': dict(caption='CLoVE Table 5: COCO keypoint detection (detectron2 only)',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py', benchmarks=[],
                  detectron2=f"{D2}/keypoint_rcnn_R_50_FPN_1x_bn.yaml"),
        '6': dict(caption='CLoVE Table 6: VOC07+12 Faster R-CNN R50-C4',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py',
                  demo_pretrain='configs/demo/clove_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[VOC_DET]),
        '7': dict(caption='CLoVE Table 7: DensePose (detectron2 only)',
                  pretrain='configs/clove/clove_r50_4xb512-lars_200e.py', benchmarks=[],
                  detectron2=f'{D2}/densepose_rcnn_R_50_FPN_s1x_bn.yaml'),
    },
    'revisiting': {
        '4': dict(caption='Revisiting Table 4: COCO pretraining, 200 epochs',
                  pretrain='configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_200e.py',
                  benchmarks=[REV_VOC, REV_CITY, REV_SVM, REV_LIN]),
        '5': dict(caption='Revisiting Table 5: DAVIS-2017 label propagation (frozen)',
                  pretrain='configs/revisiting/mocov2-mc_r50_8xb32-coco_200e.py',
                  demo_pretrain='configs/demo/revisiting-knn-mocov2_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[DAVIS]),
        '6': dict(caption='Revisiting Table 6: VOC semantic segment retrieval (frozen)',
                  pretrain='configs/revisiting/mocov2-mc_r50_8xb32-coco_200e.py',
                  demo_pretrain='configs/demo/revisiting-knn-mocov2_r18_1xb32-64px-40e_demo.py',
                  benchmarks=[RETRIEVAL]),
        '9': dict(caption='Revisiting Table 9: COCO pretraining, 800 epochs',
                  pretrain='configs/revisiting/knn-mocov2-mc-cc-m0995-aplus_r50_8xb32-coco_800e.py',
                  benchmarks=[REV_VOC, REV_CITY, REV_SVM, REV_LIN, DAVIS]),
    },
    'loca': {
        '1': dict(caption='LOCA Table 1: Segmenter linear decoder, ViT-B/16 (ADE20k, Pascal '
                  'Context, VOC, Cityscapes)',
                  pretrain='configs/loca/loca_vit-b16_16xb64_600e_in1k.py', teacher=True,
                  benchmarks=[loca_linear(d) for d in ('ade20k', 'pcontext', 'voc',
                                                       'cityscapes')]),
        '2': dict(caption='LOCA Table 2: few-shot ADE20k (5 folds per fraction)',
                  pretrain='configs/loca/loca_vit-b16_16xb64_600e_in1k.py', teacher=True,
                  benchmarks=[bench(f'ade20k_fewshot_frac{f.replace("/", "-")}_fold{k}',
                                    [f'{B}/ade20k_linear.sh', '{ckpt}', '{gpus}', '--fraction', f,
                                     '--fold', str(k), '--work-dir', '{work_dir}'])
                              for f in ('1/32', '1/16', '1/8', '1/4', '1/2') for k in range(5)]),
        '3': dict(caption='LOCA Table 3: classification-only / localisation-only on ADE20k',
                  pretrain='configs/loca/loca_vit-b16_16xb64_600e_in1k.py', teacher=True,
                  benchmarks=[
                      loca_linear('ade20k'),
                      bench('ade20k_cls_only', [
                          'python', f'{B}/loc_cls_eval.py', 'cls',
                          'configs/benchmarks/mmsegmentation/ade20k/'
                          'segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py', '{ckpt}',
                          '--out-dir', '{work_dir}']),
                      bench('ade20k_loc_only', [
                          'python', f'{B}/loc_cls_eval.py', 'loc',
                          'configs/benchmarks/mmsegmentation/ade20k/'
                          'segmenter-linear_vit-b16_8xb2-160k_ade20k-512x512.py',
                          '{stage:ade20k_linear}', '--out-dir', '{work_dir}'])]),
    },
}


class Chain:
    """The stages of one table and their markers."""

    def __init__(self, args):
        self.args = args
        self.spec = TABLES[args.paper][args.table]
        default = osp.join('work_dirs', 'reproduce' + ('_demo' if args.demo else ''),
                           f'{args.paper}_table{args.table}')
        self.root = osp.abspath(args.work_dir or default)
        self.python = sys.executable

    def marker(self, stage):
        return osp.join(self.root, '.done', stage)

    def done(self, stage):
        return osp.isfile(self.marker(stage))

    def mark(self, stage, value=''):
        os.makedirs(osp.dirname(self.marker(stage)), exist_ok=True)
        with open(self.marker(stage), 'w') as f:
            f.write(value)

    def run(self, stage, cmd, env=None):
        shown = ' '.join(f'{k}={shlex.quote(v)}' for k, v in (env or {}).items())
        shown = (shown + ' ' if shown else '') + ' '.join(shlex.quote(c) for c in cmd)
        if self.done(stage):
            print(f'# [{stage}] done (marker {self.marker(stage)}), skipped: {shown}')
            return True
        print(f'# [{stage}]\n{shown}', flush=True)
        if self.args.dry_run:
            return True
        full_env = dict(os.environ, **(env or {}))
        full_env['PYTHONPATH'] = REPO + (os.pathsep + full_env['PYTHONPATH']
                                         if full_env.get('PYTHONPATH') else '')
        ret = subprocess.call(cmd, cwd=REPO, env=full_env)
        if ret != 0:
            print(f'# [{stage}] failed with exit code {ret}; fix it and re-run the same command '
                  'to resume here', file=sys.stderr)
            return False
        self.mark(stage)
        return True

    # ----------------------------------------------------------------------------- stages
    def pretrain_config(self):
        a = self.args
        if a.pretrain_config:
            return a.pretrain_config
        if a.demo:
            if not self.spec.get('demo_pretrain'):
                raise SystemExit(f'{a.paper} table {a.table} has no demo counterpart; tables '
                                 f'with one: {", ".join(demo_tables())}')
            return self.spec['demo_pretrain']
        return self.spec['pretrain']

    def pretrain(self):
        a = self.args
        if a.ckpt:
            if not a.dry_run and not osp.isfile(a.ckpt):
                raise SystemExit(f'--ckpt not found: {a.ckpt}')
            return osp.abspath(a.ckpt)
        cfg = self.pretrain_config()
        if not osp.isfile(osp.join(REPO, cfg)):
            raise SystemExit(f'pretraining config not found: {cfg}')
        wd = osp.join(self.root, 'pretrain')
        opts = list(a.pretrain_options or [])
        if a.demo:
            from mmengine.config import Config
            config = Config.fromfile(osp.join(REPO, cfg))
            images = 'coco' if config.train_dataloader.dataset.type == 'CocoImages' else 'imagenet'
            opts.append(f'train_dataloader.dataset.data_root={self.data_root()}/{images}/')
            hooks = config.get('custom_hooks', [])
            opts += [f'custom_hooks.{i}.data_root={self.data_root()}/VOCdevkit/VOC2012'
                     for i, h in enumerate(hooks) if h.get('type') == 'DenseProbeHook']
        tail = ['--work-dir', wd] + (['--cfg-options', *opts] if opts else [])
        if a.launcher == 'slurm' and not a.demo:
            cmd = ['tools/slurm_train.sh', os.environ.get('PARTITION', 'PARTITION'),
                   f'{a.paper}{a.table}', cfg, wd] + (['--cfg-options', *opts] if opts else [])
            env = dict(GPUS=str(a.gpus))
        elif a.launcher == 'pytorch' and a.gpus > 1 and not a.demo:
            cmd, env = ['tools/dist_train.sh', cfg, str(a.gpus)] + tail, None
        else:
            cmd, env = [self.python, 'tools/train.py', cfg] + tail, None
        if not self.run('pretrain', cmd, env):
            return None
        if a.dry_run:
            return osp.join(wd, 'epoch_N.pth')
        ckpts = sorted(glob.glob(osp.join(wd, 'epoch_*.pth')),
                       key=lambda p: int(osp.basename(p)[6:-4]))
        if not ckpts:
            raise SystemExit(f'no epoch_*.pth in {wd} after pretraining')
        return ckpts[-1]

    def extract(self, ckpt):
        out = osp.join(self.root, 'backbone.pth')
        teacher = bool(self.spec.get('teacher')) and not self.args.student
        cmd = [self.python, 'tools/model_converters/extract_backbone.py', ckpt, out]
        if teacher:
            cmd.append('--teacher')
        print(f'# weights transferred: {"the EMA teacher" if teacher else "the online network"}'
              f"'s backbone" + (' (the paper reports its teacher)' if teacher else ''))
        return out if self.run('extract', cmd) else None

    def data_root(self):
        return osp.abspath(self.args.demo_data)

    def bench_command(self, b, ckpt):
        a = self.args
        cmd = b['demo'] if a.demo else b['cmd']
        env = dict(b['env'], **(b['demo_env'] if a.demo else {}))
        wd = osp.join(self.root, 'benchmarks', b['name'])
        fields = dict(ckpt=ckpt, gpus=str(1 if a.demo else a.gpus), work_dir=wd,
                      data=self.data_root())
        out = []
        for part in cmd:
            if part == '{seeds}':
                out += ['--seeds', str(a.seeds)] if a.seeds > 1 else []
            elif part.startswith('{stage:'):
                stage_dir = osp.join(self.root, 'benchmarks', part[7:-1])
                found = sorted(glob.glob(osp.join(stage_dir, '**', 'iter_*.pth'), recursive=True),
                               key=lambda p: int(osp.basename(p)[5:-4]))
                out.append(found[-1] if found else osp.join(stage_dir, 'iter_N.pth'))
            elif part == 'python':
                out.append(self.python)
            else:
                out.append(part.format(**fields))
        if a.launcher == 'slurm' and 'PARTITION' in os.environ:
            env.setdefault('PARTITION', os.environ['PARTITION'])
        return out, env, wd

    def main(self):
        a, spec = self.args, self.spec
        print(f'# {spec["caption"]}\n# work dir: {self.root}')
        if a.demo:
            missing = [b['name'] for b in spec['benchmarks'] if b['demo'] is None]
            if missing:
                raise SystemExit(f'--demo: no demo counterpart for {", ".join(missing)}; tables '
                                 f'with one: {", ".join(demo_tables())}')
            self.run('demo_data', [self.python, 'tools/make_demo_data.py', '--root',
                                   self.data_root()])
        ckpt = self.pretrain()
        if ckpt is None:
            return 1
        backbone = self.extract(ckpt)
        if backbone is None:
            return 1
        if spec.get('detectron2'):
            d2 = osp.join(self.root, 'd2_init.pkl')
            if not self.run('to_detectron2', [self.python, 'tools/model_converters/to_detectron2.py',
                                              backbone, d2]):
                return 1
            cfg = osp.basename(spec['detectron2'])
            print('# no PyPI package provides this detectron2 model; in a detectron2 checkout, '
                  f'copy {spec["detectron2"]} beside its _BASE_ (see the file) and run\n'
                  f'#   python tools/train_net.py --config-file .../{cfg} --num-gpus {a.gpus} '
                  f'MODEL.WEIGHTS {d2}')
        work_dirs = []
        for b in spec['benchmarks']:
            cmd, env, wd = self.bench_command(b, backbone)
            work_dirs.append(wd)
            if not self.run(f'bench_{b["name"]}', cmd, env):
                return 1
        if not work_dirs:
            return 0
        table_md = osp.join(self.root, 'table.md')
        cmd = [self.python, f'{B}/summarize.py', *work_dirs, '--out', table_md]
        print(f'# [summarize]\n{" ".join(shlex.quote(c) for c in cmd)}', flush=True)
        if a.dry_run:
            return 0
        return subprocess.call(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))


def demo_tables():
    return [f'{p} {t}' for p, ts in TABLES.items() for t, s in ts.items()
            if s.get('demo_pretrain') and s['benchmarks'] and all(b['demo'] for b in s['benchmarks'])]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('paper', nargs='?', choices=sorted(TABLES))
    parser.add_argument('table', nargs='?')
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--ckpt', help='start from this pretraining checkpoint (no pretraining)')
    src.add_argument('--pretrain-config', help="pretrain this config instead of the table's")
    parser.add_argument('--pretrain-options', nargs='+', metavar='KEY=VALUE',
                        help='--cfg-options for the pretraining run')
    parser.add_argument('--gpus', type=int, default=8)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='pytorch')
    parser.add_argument('--seeds', type=int, default=1, help='runs per fine-tuning benchmark')
    parser.add_argument('--student', action='store_true',
                        help='transfer the online network even where the paper reports the '
                        'EMA teacher')
    parser.add_argument('--work-dir')
    parser.add_argument('--demo', action='store_true',
                        help='the CPU demo configs and data instead of the paper-scale ones')
    parser.add_argument('--demo-data', default=DEMO_DATA, help='where --demo writes its data')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    parser.add_argument('--list', action='store_true', help='the supported tables')
    args = parser.parse_args(argv)
    if args.list or not args.paper:
        return args
    if args.table not in TABLES[args.paper]:
        parser.error(f'{args.paper} has tables {", ".join(TABLES[args.paper])}')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.list or not args.paper:
        for paper, tables in TABLES.items():
            for table, spec in tables.items():
                demo = ' [--demo]' if f'{paper} {table}' in demo_tables() else ''
                print(f'{paper} {table}: {spec["caption"]}{demo}')
        return 0
    return Chain(args).main()


if __name__ == '__main__':
    sys.exit(main())
