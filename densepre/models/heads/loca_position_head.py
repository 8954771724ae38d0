"""LOCA's relative-position head (LOCA Sec. 3, "Patch position prediction", Eq. 2)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from densepre.registry import MODELS


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
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 num_positions: int, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_positions = int(num_positions)
        self.norm_q = nn.LayerNorm(embed_dims, eps=1e-6)
        self.norm_kv = nn.LayerNorm(embed_dims, eps=1e-6)
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(embed_dims, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, feedforward_channels), nn.GELU(),
            nn.Linear(feedforward_channels, embed_dims))
        self.norm_out = nn.LayerNorm(embed_dims, eps=1e-6)
        self.classifier = nn.Linear(embed_dims, self.num_positions)

    def init_weights(self) -> None:
        super().init_weights()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Position logits (B, n_q, num_positions) from query tokens (B, n_q, d) and kept
        reference tokens (B, n_kv, d). With no visible reference token (η = 1, Fig. 5) the
        attention contributes nothing: the query sees only itself."""
        x = query
        if reference.shape[1] > 0:
            kv = self.norm_kv(reference)
            x = x + self.attn(self.norm_q(query), kv, kv, need_weights=False)[0]
        x = x + self.mlp(self.norm_mlp(x))
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
