"""LOCA's relative-position head (LOCA Sec. 3, "Patch position prediction", Eq. 2; Table 5's box
regression variant)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from densepre.registry import MODELS
from ..utils.loca_release_init import (check_gelu_approximate, check_init_mode, lecun_normal_,
                                       xavier_uniform_chunks_)


@MODELS.register_module()
class LOCAPositionHead(BaseModule):
    """``W^T g(Z_q, m(Z_ref))``: one pre-LN cross-attention transformer block g whose queries are
    the query-view tokens and whose keys / values are the kept reference tokens, then a LayerNorm
    and a linear classifier W over the ``num_positions`` reference patch positions (196 at 224 px).

    The block: ``x = q + MHA(LN(q), LN(kv))``, ``x = x + MLP(LN(x))`` (separate LayerNorms for the
    queries and the keys / values, as in the authors' ``CrossAttentionEncoderBlock``).

    Args:
        embed_dims: token width d.
        num_heads: attention heads (the encoder's).
        feedforward_channels: MLP hidden width (the encoder's).
        num_positions: N_ref.
        output: ``'positions'`` — per query patch, logits over the ``num_positions`` reference
            patches (Eq. 2); ``'box'`` — LOCA Table 5's "query box coordinates" regression: the
            block's output tokens averaged over the query, LN, a linear layer to 4 numbers and a
            sigmoid, the query's box ``(cx, cy, w, h)`` in normalised reference coordinates,
            trained with UP-DETR's / DETR's default ``5 * L1 + 2 * (1 - GIoU)``.
        box_l1_weight, box_giou_weight: the two weights of the box loss (DETR: 5, 2).
        gelu_approximate: ``'none'`` (exact GELU, default) or ``'tanh'`` (flax's ``nn.gelu``
            default, the authors' code).
        init_mode: ``'densepre'`` — every ``Linear`` Xavier-uniform with zero bias, the
            in-projection ``nn.MultiheadAttention``'s (Xavier of the stacked ``(3d, d)``
            matrix); ``'release'`` — the authors' ``CrossAttentionEncoderBlock`` and
            ``position_predictor``: q / k / v and output projections Xavier per ``(d, d)``
            projection, zero biases; MLP Xavier with bias ``N(0, 1e-6)``; the classifier LeCun
            truncated normal (flax ``Dense`` default), zero bias.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 num_positions: int, output: str = 'positions', box_l1_weight: float = 5.,
                 box_giou_weight: float = 2., gelu_approximate: str = 'none',
                 init_mode: str = 'densepre', init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.init_mode = check_init_mode(init_mode, 'LOCAPositionHead')
        self.gelu_approximate = check_gelu_approximate(gelu_approximate, 'LOCAPositionHead')
        if output not in ('positions', 'box'):
            raise ValueError(f"LOCAPositionHead output must be 'positions' or 'box', got "
                             f'{output!r}')
        self.output = output
        self.box_l1_weight, self.box_giou_weight = float(box_l1_weight), float(box_giou_weight)
        self.num_positions = int(num_positions)
        self.norm_q = nn.LayerNorm(embed_dims, eps=1e-6)
        self.norm_kv = nn.LayerNorm(embed_dims, eps=1e-6)
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(embed_dims, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, feedforward_channels), nn.GELU(approximate=gelu_approximate),
            nn.Linear(feedforward_channels, embed_dims))
        self.norm_out = nn.LayerNorm(embed_dims, eps=1e-6)
        self.classifier = nn.Linear(embed_dims, 4 if output == 'box' else self.num_positions)

    @torch.no_grad()
    def init_weights(self) -> None:
        super().init_weights()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        if self.init_mode == 'release':
            xavier_uniform_chunks_(self.attn.in_proj_weight, 3)
            nn.init.zeros_(self.attn.in_proj_bias)
            for m in self.mlp:
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.bias, std=1e-6)
            lecun_normal_(self.classifier.weight)

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Position logits (B, n_q, num_positions) from query tokens (B, n_q, d) and kept
        reference tokens (B, n_kv, d); with ``output='box'`` the query boxes (B, 4) as
        ``(cx, cy, w, h)`` in [0, 1]. With no visible reference token (η = 1, Fig. 5) the
        attention contributes nothing: the query sees only itself."""
        x = query
        if reference.shape[1] > 0:
            kv = self.norm_kv(reference)
            x = x + self.attn(self.norm_q(query), kv, kv, need_weights=False)[0]
        x = x + self.mlp(self.norm_mlp(x))
        if self.output == 'box':
            return self.classifier(self.norm_out(x.mean(1))).float().sigmoid()
        return self.classifier(self.norm_out(x))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Eq. 2: mean CE over the query patches that intersect the reference (target >= 0).

        ``logits`` (..., num_positions), ``targets`` (...) with -1 outside the reference. With no
        intersecting patch at all the loss is an exact 0 that still depends on the logits.
        """
        logits = logits.reshape(-1, self.num_positions).float()
        targets = targets.reshape(-1)
        valid = targets >= 0
        if not bool(valid.any()):
            return logits.sum() * 0.
        return F.cross_entropy(logits[valid], targets[valid])

    def loss_box(self, boxes: torch.Tensor, targets: torch.Tensor,
                 valid: torch.Tensor) -> dict:
        """Table 5 box regression: ``boxes`` (B, 4) predicted ``(cx, cy, w, h)``, ``targets``
        (B, 4) ``(x1, y1, x2, y2)``, both normalised; mean over the ``valid`` queries (those
        that intersect the reference) of ``w_l1 * |b - t|_1`` (in cx, cy, w, h) and
        ``w_giou * (1 - GIoU(b, t))``; plus the mean IoU (a metric, no gradient)."""
        boxes, targets = boxes.float(), targets.float()
        if not bool(valid.any()):
            zero = boxes.sum() * 0.
            return dict(loss_box_l1=zero, loss_box_giou=zero.clone(),
                        box_iou=zero.detach().clone())
        boxes, targets = boxes[valid], targets[valid]
        xyxy = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], -1)
        cxcywh = torch.cat([(targets[:, :2] + targets[:, 2:]) / 2,
                            targets[:, 2:] - targets[:, :2]], -1)
        iou, giou = generalized_box_iou(xyxy, targets)
        return dict(loss_box_l1=self.box_l1_weight * (boxes - cxcywh).abs().sum(-1).mean(),
                    loss_box_giou=self.box_giou_weight * (1 - giou).mean(),
                    box_iou=iou.detach().mean())


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor):
    """IoU and generalised IoU (Rezatofighi et al. 2019) of aligned boxes (N, 4) ``x1y1x2y2``:
    ``GIoU = IoU - |C \\ (A ∪ B)| / |C|`` with C the smallest box enclosing both."""
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    inter = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0).prod(-1)
    union = area_a + area_b - inter
    iou = inter / union.clamp(min=1e-12)
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0).prod(-1)
    return iou, iou - (hull - union) / hull.clamp(min=1e-12)
