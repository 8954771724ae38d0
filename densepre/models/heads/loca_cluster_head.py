"""LOCA's patch-level clustering head (LOCA Sec. 3, "Patch-level clustering", Eq. 1)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_world_size
from mmengine.model import BaseModule

from densepre.registry import MODELS
from ..utils.loca_release_init import check_gelu_approximate, check_init_mode, lecun_normal_
from ..utils.sinkhorn import sinkhorn_knopp


@MODELS.register_module()
class LOCAClusterHead(BaseModule):
    """Projection MLP ``2 x (Linear(hid), GELU) -> Linear(bottleneck) -> L2`` then cosine
    similarities with ``num_prototypes`` weight-normalised prototypes Q (no bias).

    The prototypes are stored unnormalised and normalised in every forward (the weight
    normalisation of the authors' ``WeightNormDense``, without a gain), so the logits are
    cosines in [-1, 1].

    Loss (:meth:`loss`): teacher targets on the reference patches ``softmax(Q^T z_ref / τ_t)``
    (τ_t = 0.05) balanced by ``sinkhorn_iterations`` Sinkhorn-Knopp iterations over the whole
    (all-reduced) batch; student ``Q^T z_q / τ_s`` (τ_s = 0.1); CE to the target of the matched
    reference patch, averaged over the intersecting query patches (Eq. 1); plus me-max, the
    negative entropy ``Σ_k p̄_k log p̄_k`` of the mean student prediction over all query patches
    of all ranks (MSN's regulariser).

    ``gelu_approximate``: ``'none'`` (exact GELU, default) or ``'tanh'`` (flax's ``nn.gelu``
    default, the authors' code). ``init_mode``: ``'densepre'`` — MLP weights normal truncated at
    ±2 std with std ``fan_in^-1/2`` (variance 0.77 / fan_in), zero biases, prototypes
    ``nn.Linear``'s default; ``'release'`` — the authors' flax init: MLP weights LeCun truncated
    normal (variance exactly 1 / fan_in), zero biases, prototypes LeCun truncated normal scaled
    to unit norm (``norm_kernel_init_fn``). The prototypes' stored norm matters during training:
    the gradient reaching them is divided by it, and weight decay shrinks it.
    """

    def __init__(self, in_channels: int, hid_channels: int = 2048, bottleneck_channels: int = 256,
                 num_prototypes: int = 4096, num_layers: int = 2,
                 student_temperature: float = 0.1, teacher_temperature: float = 0.05,
                 sinkhorn_iterations: int = 3, me_max_weight: float = 1.0,
                 gelu_approximate: str = 'none', init_mode: str = 'densepre',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.init_mode = check_init_mode(init_mode, 'LOCAClusterHead')
        self.gelu_approximate = check_gelu_approximate(gelu_approximate, 'LOCAClusterHead')
        layers, dims = [], in_channels
        for _ in range(num_layers):
            layers += [nn.Linear(dims, hid_channels), nn.GELU(approximate=gelu_approximate)]
            dims = hid_channels
        layers.append(nn.Linear(dims, bottleneck_channels))
        self.mlp = nn.Sequential(*layers)
        self.prototypes = nn.Parameter(torch.empty(num_prototypes, bottleneck_channels))
        self.num_prototypes = int(num_prototypes)
        self.student_temperature = float(student_temperature)
        self.teacher_temperature = float(teacher_temperature)
        self.sinkhorn_iterations = int(sinkhorn_iterations)
        self.me_max_weight = float(me_max_weight)
        self._reset_prototypes()

    def _reset_prototypes(self) -> None:
        nn.init.kaiming_uniform_(self.prototypes, a=5**0.5)  # nn.Linear's default

    @torch.no_grad()
    def init_weights(self) -> None:
        super().init_weights()
        # std ~ fan_in^-1/2 keeps the bottleneck's norm ~1, so the L2 normalisation does not
        # amplify its gradient (with std 0.02 a narrow head shrinks z and its gradient grows as
        # 1/|z|). 'release' is flax's exact LeCun normal.
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                if self.init_mode == 'release':
                    lecun_normal_(m.weight)
                else:
                    std = m.in_features**-0.5
                    nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)
        if self.init_mode == 'release':
            lecun_normal_(self.prototypes)
            self.prototypes /= self.prototypes.norm(dim=1, keepdim=True) + 1e-10
        else:
            self._reset_prototypes()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cosine logits (..., K) of tokens (..., C)."""
        z = F.normalize(self.mlp(x), dim=-1)
        return z @ F.normalize(self.prototypes, dim=-1).t()

    @torch.no_grad()
    def targets(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Soft cluster assignments of the reference patches (N, K): softmax(/τ_t) then
        Sinkhorn-Knopp over all N patches of all ranks (computed in float32)."""
        probs = F.softmax(teacher_logits.float().reshape(-1, self.num_prototypes)
                          / self.teacher_temperature, dim=-1)
        if self.sinkhorn_iterations > 0:
            probs = sinkhorn_knopp(probs, self.sinkhorn_iterations)
        return probs.reshape(teacher_logits.shape)

    def loss(self, student_logits: torch.Tensor, targets: torch.Tensor,
             valid: torch.Tensor) -> dict:
        """Eq. 1 + me-max.

        Args:
            student_logits: (M, K) cosine logits of all query patches.
            targets: (M, K) the target of each query patch's matched reference patch (rows of
                non-intersecting patches are ignored).
            valid: (M,) bool, query patch intersects the reference.
        """
        log_p = F.log_softmax(student_logits.float() / self.student_temperature, dim=-1)
        if bool(valid.any()):
            loss_cluster = -(targets[valid] * log_p[valid]).sum(-1).mean()
        else:
            loss_cluster = log_p.sum() * 0.
        out = dict(loss_cluster=loss_cluster)
        if self.me_max_weight > 0:
            mean_p = log_p.exp().mean(0)
            world = get_world_size()
            if world > 1:  # global mean over ranks; local gradient (DDP averages it)
                glob = mean_p.detach().clone()
                all_reduce(glob, op='mean')
                mean_p = mean_p + (glob - mean_p.detach())
            out['loss_memax'] = self.me_max_weight * (mean_p * torch.log(mean_p)).sum()
        return out
