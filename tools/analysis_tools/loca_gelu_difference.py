"""How much LOCA's position-head logits change between the tanh-approximate GELU (flax's
``nn.gelu`` default, what the authors' code runs) and the exact GELU, on the same weights and views.

Builds the config's model (default: the ``_release`` ViT-B/16 with its flax init), float64, one
reference and one 224 query of random pixels (seeded), eval mode (no stochastic depth). The
reference goes through the backbone (the teacher is a copy of it at init), ``eta`` masking keeps
its visible tokens, the query keeps
``query_keep_tokens`` tokens; the same draws are replayed with every ``nn.GELU`` of the model
switched to the other approximation. Prints the largest absolute logit difference, the logits'
standard deviation and the largest difference of the position probabilities.

    python tools/analysis_tools/loca_gelu_difference.py \\
        configs/loca/loca_vit-b16_16xb64_100e_in1k_release.py --seed 0
"""
import argparse

import torch
import torch.nn as nn
from mmengine.config import Config


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', nargs='?',
                   default='configs/loca/loca_vit-b16_16xb64_100e_in1k_release.py')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args(argv)


def position_logits(model, reference, query, seed):
    from densepre.models.utils.masking import gather_tokens, visible_token_indices
    torch.manual_seed(seed)
    with torch.no_grad():
        ref, _, _ = model.backbone.forward_tokens(reference)
        keep = model.num_visible(ref.shape[1])
        kv = gather_tokens(ref, visible_token_indices(ref.shape[0], ref.shape[1], keep,
                                                      model.reference_masking))
        tokens, _, _ = model.backbone.forward_tokens(query, model.query_keep_tokens)
        return model.position_head(tokens, kv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from densepre.registry import MODELS
    from densepre.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.double().eval()  # eval: no stochastic depth, so only the GELU differs
    gen = torch.Generator().manual_seed(args.seed)
    size = cfg.model.backbone.get('img_size', 224)
    reference = torch.randn(args.batch, 3, size, size, generator=gen, dtype=torch.float64)
    query = torch.randn(args.batch, 3, size, size, generator=gen, dtype=torch.float64)
    acts = [m for m in model.modules() if isinstance(m, nn.GELU)]
    configured = {m.approximate for m in acts}
    out = {}
    for mode in ('tanh', 'none'):
        for m in acts:
            m.approximate = mode
        out[mode] = position_logits(model, reference, query, args.seed)
    diff = (out['tanh'] - out['none']).abs()
    prob = (out['tanh'].softmax(-1) - out['none'].softmax(-1)).abs()
    print(f'config GELU: {sorted(configured)}; {len(acts)} GELU modules; logits '
          f'{tuple(out["tanh"].shape)}')
    print(f'max |logit(tanh) - logit(exact)| = {diff.max().item():.3e}  '
          f'(mean {diff.mean().item():.3e}; logit std {out["none"].std().item():.3e}); '
          f'max |prob diff| = {prob.max().item():.3e}')
    return diff.max().item()


if __name__ == '__main__':
    main()
