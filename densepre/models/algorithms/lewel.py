"""LEWEL, "Learning Where to Learn in Cross-View Self-Supervised Learning" (CVPR 2022).

LEWEL = a global baseline + an aligned branch::

    L = (1 − β)·L_g + β·L_a                                             (Eq. 3, β = 0.5)

* global branch — exactly the baseline: ``z = g(GAP(F))`` and BYOL's normalised MSE with the
  predictor q (``LEWELB``, on densepre's :class:`BYOL`) or MoCo's InfoNCE against the queue
  (``LEWELM``, on densepre's :class:`MoCoV2`);
* aligned branch — the projection head g is reinterpreted per pixel (:class:`CoupledProjectionHead`,
  Sec. 3.2), giving ``d`` alignment maps (:func:`alignment_maps`) that pool ``d/h`` aligned
  representations ``y_k`` (Eq. 2, :func:`aligned_pooling`); a semantic projector p maps them to
  aligned embeddings ``z_k ∈ R^c`` and ``L_a = (h/d) Σ_k ℓ(z'_k, z''_k)`` with ℓ = BYOL's loss
  with a separate predictor s (``LEWELB``, Eq. 5) or InfoNCE with the other images of the batch
  as negatives (``LEWELM``, Eq. 4).

The target / key network is ONE :class:`~densepre.models.utils.ema.EMATeacher` of backbone + g +
p (+ the separate map head of the ablation): the baseline's ``target_net`` / ``encoder_k``, built
once with all the online modules. LEWEL_B's loss is symmetrised over the two views (BYOL: sum of
the two directions); LEWEL_M's is one-directional by default (see :class:`LEWELM`).

Returned loss dict: ``loss_global = (1−β)·L_g`` and ``loss_aligned = β·L_a`` (MMEngine sums the
keys containing ``loss``, so the optimised/logged ``loss`` is Eq. 3), plus the unweighted
``l_global`` / ``l_aligned`` for logging.

Ablation switches (LEWEL Tables 5-7, Fig. 3): ``beta`` (0: global only — the aligned modules are
not built; 1: aligned only), ``map_head`` (a separate MLP predicts the maps: "without coupled
head"), ``map_mode`` (``'uniform'``: GAP maps, ``'random'``: fixed random maps), ``aligned_projector
=None`` (g also serves as p: "without extra p"), and d / h / c through the configs.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from densepre.registry import MODELS
from ..utils.alignment import aligned_pooling, random_maps, uniform_maps
from ..utils.alignment import alignment_maps as compute_alignment_maps
from .byol import BYOL
from .mocov2 import MoCoV2

MAP_MODES = ('learned', 'uniform', 'random')


class LEWELMixin:
    """The aligned branch of LEWEL, shared by :class:`LEWELB` and :class:`LEWELM`.

    Subclasses call :meth:`_init_lewel` after the baseline's ``__init__`` (which leaves the
    teacher to it: ``_build_teacher_in_init = False``); :meth:`_init_lewel` builds the aligned
    modules and then the one teacher of all online modules.
    """

    _build_teacher_in_init = False

    def _init_lewel(self, aligned_projector: Optional[dict], num_groups: int, temperature: float,
                    beta: float, map_head: Optional[dict], map_mode: str) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f'beta must be in [0, 1], got {beta}')
        if map_mode not in MAP_MODES:
            raise ValueError(f'map_mode must be one of {MAP_MODES}, got {map_mode!r}')
        self.beta = float(beta)
        self.num_groups = int(num_groups)
        self.temperature = float(temperature)
        self.map_mode = map_mode
        self.with_aligned = self.beta > 0
        self.aligned_projector = None
        self.map_head = None
        self._random_maps: Dict[tuple, torch.Tensor] = {}
        if not self.with_aligned:  # global only: the aligned branch is not even built
            self.build_teacher()
            return
        if map_head is not None and map_mode == 'learned':
            self.map_head = MODELS.build(map_head)
        map_net = self.map_head if self.map_head is not None else self.neck
        if map_mode == 'learned' and not hasattr(map_net, 'forward_dense'):
            raise TypeError(f'{type(map_net).__name__} cannot project per pixel: use '
                            '`CoupledProjectionHead` as the neck (or as `map_head`)')
        self.num_maps = getattr(map_net, 'out_channels', None)  # d
        if self.num_maps is None:
            raise TypeError(f'cannot tell the number of alignment maps d from '
                            f'{type(map_net).__name__}: use a CoupledProjectionHead neck')
        if aligned_projector is not None:
            self.aligned_projector = MODELS.build(aligned_projector)
        elif not hasattr(self.neck, 'project'):
            raise TypeError('aligned_projector=None reuses g as the semantic projector, which '
                            'needs a CoupledProjectionHead neck')
        in_channels = getattr(self.neck, 'in_channels', None)
        if self.num_maps % self.num_groups or (in_channels and in_channels % self.num_groups):
            raise ValueError(f'num_groups (h={self.num_groups}) must divide d={self.num_maps} '
                             f'and the backbone channels D={in_channels}')
        self.build_teacher()

    # ------------------------------------------------------------------ modules
    @property
    def num_aligned(self) -> int:
        """Number of aligned embeddings ``d/h``."""
        return self.num_maps // self.num_groups if self.with_aligned else 0

    def online_modules(self) -> Dict[str, nn.Module]:
        """Online θ averaged by the target ξ: backbone, g, p (and the ablation's map head)."""
        mods = OrderedDict(backbone=self.backbone, neck=self.neck)
        if self.aligned_projector is not None:
            mods['aligned_projector'] = self.aligned_projector
        if self.map_head is not None:
            mods['map_head'] = self.map_head
        return mods

    @staticmethod
    def _split(mods) -> Tuple[nn.Module, nn.Module, Dict[str, nn.Module]]:
        aligned = {k: mods[k] for k in ('aligned_projector', 'map_head') if k in mods}
        return mods['backbone'], mods['neck'], aligned

    def _online(self) -> Tuple[nn.Module, nn.Module, Dict[str, nn.Module]]:
        return self._split(self.online_modules())

    def _target(self) -> Tuple[nn.Module, nn.Module, Dict[str, nn.Module]]:
        return self._split(self.teacher.module)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before the single EMA teacher kept p (and the map head) in a second
        # EMA, `target_aligned.module.{projector,map_head}`
        name = self.teacher_attr
        renames = {'projector': 'aligned_projector', 'map_head': 'map_head'}
        for key in [k for k in state_dict if k.startswith(prefix + 'target_aligned.')]:
            rest = key[len(prefix + 'target_aligned.'):]
            value = state_dict.pop(key)
            for old, new in renames.items():
                if rest.startswith(f'module.{old}.'):
                    state_dict[f'{prefix}{name}.module.{new}.' +
                               rest[len(f'module.{old}.'):]] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ forward pieces
    def _maps(self, feat: torch.Tensor, neck: nn.Module, aligned) -> torch.Tensor:
        """Alignment maps ``(N, d, H, W)`` (learned) or ``(d, H, W)`` (uniform / random)."""
        if self.map_mode == 'learned':
            net = aligned['map_head'] if 'map_head' in aligned else neck
            return compute_alignment_maps(net.forward_dense(feat), self.temperature)
        size = tuple(feat.shape[-2:])
        if self.map_mode == 'uniform':
            return uniform_maps(self.num_maps, size, device=feat.device, dtype=feat.dtype)
        key = (size, feat.device, feat.dtype)
        if key not in self._random_maps:
            self._random_maps[key] = random_maps(self.num_maps, size, self.temperature,
                                                 device=feat.device, dtype=feat.dtype)
        return self._random_maps[key]

    def _embed(self, img: torch.Tensor, backbone: nn.Module, neck: nn.Module,
               aligned) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """One backbone pass → global embedding ``z`` (N, d) and aligned embeddings (N, d/h, c).

        The backbone runs once; g is applied to GAP(F) and (for learned maps) to every pixel of
        F (:meth:`CoupledProjectionHead.forward_global_and_dense`: by default ONE pass over the
        rows [GAP(F); pixels], so g's BN normalises both with one set of batch statistics, as in
        the authors' release); the grouped pooling is one einsum over (N, HW); p runs once on
        the (N·d/h, D) stack.
        """
        feats = backbone(img)
        if not self.with_aligned:
            return neck(feats)[0], None
        feat = feats[-1]
        if self.map_mode == 'learned' and 'map_head' not in aligned:
            # coupled head: g on GAP(F) and on every pixel (one or two passes: `batch_mode`)
            z, dense = neck.forward_global_and_dense(feat)
            maps = compute_alignment_maps(dense, self.temperature)
        else:
            z = neck(feats)[0]
            maps = self._maps(feat, neck, aligned)
        y = aligned_pooling(feat, maps, self.num_groups)
        n, k, _ = y.shape
        y = y.flatten(0, 1)
        za = (aligned['aligned_projector']([y])[0] if 'aligned_projector' in aligned
              else neck.project(y))
        return z, za.view(n, k, -1)

    def online_embed(self, img: torch.Tensor):
        """Online ``(z, z_aligned)`` of one view (backbone + g + p)."""
        return self._embed(img, *self._online())

    @torch.no_grad()
    def target_embed(self, img: torch.Tensor):
        """Target / momentum ``(z, z_aligned)`` of one view (EMA backbone + g + p)."""
        return self._embed(img, *self._target())

    def alignment_maps(self, img: torch.Tensor, target: bool = False) -> torch.Tensor:
        """Alignment maps ``(N, d, H, W)`` of a batch (for visualisation, appendix Fig. 5).

        Map ``j`` (0-based) pools channel group ``j % h`` of aligned embedding ``j // h``.
        """
        if not self.with_aligned:
            raise RuntimeError('this model has no aligned branch (beta=0)')
        backbone, neck, aligned = self._target() if target else self._online()
        feat = backbone(img)[-1]
        maps = self._maps(feat, neck, aligned)
        return maps.expand(feat.shape[0], *maps.shape[-3:]) if maps.dim() == 3 else maps

    def _weighted(self, l_global: torch.Tensor,
                  l_aligned: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """``loss_global + loss_aligned = (1−β)·L_g + β·L_a`` (Eq. 3) plus the raw terms."""
        losses = dict(loss_global=(1.0 - self.beta) * l_global, l_global=l_global.detach())
        if l_aligned is not None:
            losses.update(loss_aligned=self.beta * l_aligned, l_aligned=l_aligned.detach())
        return losses


@MODELS.register_module()
class LEWELB(LEWELMixin, BYOL):
    """LEWEL_B: BYOL + alignment (LEWEL Sec. 3.3, Eq. 5).

    ``L_g = Σ_{two directions} 2 − 2·cos(q(z'), sg(z''_ξ))`` (densepre's BYOL loss) and
    ``L_a = Σ_{two directions} mean_{n,k} 2 − 2·cos(s(z'_k), sg(z''_{ξ,k}))`` with a separate
    predictor s. Target ξ: ONE :class:`EMATeacher` of backbone + g + p, cosine EMA from 0.98
    (``base_momentum=0.02``), with EMAN ("EMA BN statistics in the momentum encoder", LEWEL
    Sec. 3.3 following EMAN [Cai et al. 2021]: ``teacher_buffers='eman'``, the target runs in
    eval mode on EMA'd BN statistics) in the paper-named configs.

    Args:
        backbone, neck, head: as densepre's :class:`BYOL`; ``neck`` is the coupled head g
            (``CoupledProjectionHead``), ``head`` the global predictor q + loss
            (``LatentPredictHead``).
        aligned_projector (dict | None): semantic projector p (``D → c``), e.g. mmpretrain
            ``NonLinearNeck`` with ``with_avg_pool=False``; ``None`` reuses g.
        aligned_head (dict): predictor s + loss for the aligned embeddings
            (``LatentPredictHead``).
        num_groups (int): h. Defaults to 4 (paper Sec. 4.4 and the released scripts).
        temperature (float): softmax temperature of the maps. Defaults to 1.
        beta (float): β of Eq. 3. Defaults to 0.5.
        map_head (dict, optional): a separate MLP for the maps ("without coupled head").
        map_mode (str): ``'learned'`` (default), ``'uniform'`` or ``'random'``.
        **kwargs: densepre ``BYOL`` arguments (``base_momentum``, ``teacher_buffers``, ...).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 aligned_projector: Optional[dict],
                 aligned_head: Optional[dict],
                 num_groups: int = 4,
                 temperature: float = 1.0,
                 beta: float = 0.5,
                 map_head: Optional[dict] = None,
                 map_mode: str = 'learned',
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self._init_lewel(aligned_projector, num_groups, temperature, beta, map_head, map_mode)
        self.aligned_head = MODELS.build(aligned_head) if self.with_aligned else None

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        self.update_teacher_at('start')
        (z1, a1), (z2, a2) = self.online_embed(inputs[0]), self.online_embed(inputs[1])
        with torch.no_grad():
            self.update_teacher_at('forward')
            (t1, ta1), (t2, ta2) = self.target_embed(inputs[0]), self.target_embed(inputs[1])
        l_global = self.predict_loss(self.head, z1, t2) + self.predict_loss(self.head, z2, t1)
        l_aligned = None
        if self.with_aligned:
            head = self.aligned_head
            l_aligned = (self.predict_loss(head, a1.flatten(0, 1), ta2.flatten(0, 1)) +
                         self.predict_loss(head, a2.flatten(0, 1), ta1.flatten(0, 1)))
        return self._weighted(l_global, l_aligned)


@MODELS.register_module()
class LEWELM(LEWELMixin, MoCoV2):
    """LEWEL_M: MoCo v2 + alignment (LEWEL Sec. 3.3, Eq. 4).

    ``L_g``: InfoNCE (τ = 0.2) of the global query against its key and MoCo's queue
    (:meth:`MoCoV2.contrastive_loss`); ``L_a``: InfoNCE of each aligned query embedding against
    the same-index aligned key embeddings of all images of the global batch
    (``BatchInfoNCELoss``: positives = same image, negatives = the other images). Keys come from
    the momentum encoder (ONE :class:`EMATeacher` of backbone + g + p, momentum 0.999 fixed)
    with ShuffleBN.

    One direction by default (query view 1, key view 2), like the MoCo v2 it extends: the paper
    never says LEWEL_M is symmetrised, its Table 9 puts LEWEL_M at +0.7 % time over MoCo v2
    (1222 s vs 1213 s per epoch; a symmetric loss doubles the query and key passes) and its
    Table 1 baseline is the one-direction MoCo v2. ``symmetric=True`` averages both directions;
    either way one key batch is enqueued per iteration, so the queue spans the same number of
    iterations as MoCo v2's.

    Args:
        backbone, neck, head: as densepre's :class:`MoCoV2`; ``neck`` is the coupled head g,
            ``head`` the global ``ContrastiveHead``.
        aligned_projector (dict | None): semantic projector p; ``None`` reuses g.
        aligned_loss (dict): loss of the aligned embeddings. Defaults to ``BatchInfoNCELoss``
            with τ = 0.2.
        num_groups, temperature, beta, map_head, map_mode: see :class:`LEWELB`.
        symmetric (bool): symmetrise over the two views. Defaults to False.
        **kwargs: densepre ``MoCoV2`` arguments (``queue_len``, ``feat_dim`` = d,
            ``momentum`` = 1 − m, ``shuffle_bn``).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 aligned_projector: Optional[dict],
                 aligned_loss: dict = dict(type='BatchInfoNCELoss', temperature=0.2),
                 num_groups: int = 4,
                 temperature: float = 1.0,
                 beta: float = 0.5,
                 map_head: Optional[dict] = None,
                 map_mode: str = 'learned',
                 symmetric: bool = False,
                 **kwargs) -> None:
        super().__init__(backbone=backbone, neck=neck, head=head, symmetric=symmetric, **kwargs)
        out = getattr(self.neck, 'out_channels', None)
        if out is not None and out != self.queue.dim:
            raise ValueError(f'feat_dim ({self.queue.dim}) must equal the output size d of '
                             f'the coupled head ({out})')
        self._init_lewel(aligned_projector, num_groups, temperature, beta, map_head, map_mode)
        self.aligned_loss = MODELS.build(aligned_loss) if self.with_aligned else None

    def encode_queries(self, img: torch.Tensor):
        """Online ``(q, q_aligned)``: L2-normalised global query (N, d), aligned (N, d/h, c)."""
        q, qa = self.online_embed(img)
        return F.normalize(q, dim=1), qa

    @torch.no_grad()
    def encode_keys(self, img: torch.Tensor):
        """Momentum ``(k, k_aligned)``, L2-normalised, computed with ShuffleBN (same policy and
        single-process fallback as :meth:`MoCoV2.encode_key`)."""
        def normalised_target(x):
            k, ka = self.target_embed(x)
            return F.normalize(k, dim=1), (F.normalize(ka, dim=-1) if ka is not None else None)

        return self.run_shuffled(normalised_target, img)

    def loss(self, inputs: List[torch.Tensor], data_samples: list,
             **kwargs) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            self.update_teacher()
        pairs = [(0, 1), (1, 0)] if self.symmetric else [(0, 1)]
        queries = {i: self.encode_queries(inputs[i]) for i in sorted({p[0] for p in pairs})}
        keys = {i: self.encode_keys(inputs[i]) for i in sorted({p[1] for p in pairs})}
        l_global = sum(self.contrastive_loss(queries[qi][0], keys[ki][0])
                       for qi, ki in pairs) / len(pairs)
        l_aligned = None
        if self.with_aligned:
            l_aligned = sum(self.aligned_loss(queries[qi][1], keys[ki][1])
                            for qi, ki in pairs) / len(pairs)
        # one key batch per iteration, so the queue spans as many iterations as MoCo v2's
        self._dequeue_and_enqueue(keys[pairs[0][1]][0])
        return self._weighted(l_global, l_aligned)
