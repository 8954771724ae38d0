"""Import a released checkpoint of another code base as a densepre pretraining checkpoint.

    python tools/model_converters/import_checkpoint.py --from FORMAT IN OUT

FORMAT: torchvision | moco | mmselfsup (= mmpretrain) | lewel | clove | revisiting | timm (= deit)
| deit3. --trust-checkpoint: fully unpickle a file that is not weights-only (CLoVE / PixPro and
DeiT releases pickle an argparse namespace); only for files you trust.
OUT holds {'state_dict': {'backbone.<mmpretrain name>': tensor}}, which every
tools/benchmarks/*.sh script loads with its complete-loading check. Keys the format does not
explain are an error naming them (see densepre/transfer/importers.py for each layout).
"""
import argparse
import sys


def main(argv=None):
    from densepre.transfer.importers import FORMATS, import_checkpoint
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--from', dest='fmt', required=True, choices=sorted(FORMATS))
    parser.add_argument('src', metavar='IN')
    parser.add_argument('dst', metavar='OUT')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle a checkpoint that is not weights-only (runs any code '
                        'the file names: only for files you trust)')
    args = parser.parse_args(argv)
    try:
        out = import_checkpoint(args.src, args.fmt, args.dst, trust=args.trust_checkpoint)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f'error: {args.src}: {e}', file=sys.stderr)
        return 1
    print(f'{args.dst}: {len(out)} backbone tensors imported from {args.src} ({args.fmt})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
