"""Online dense probe: mIoU of a linear per-pixel classifier on frozen features, during pretraining.

Dense methods are meant to improve segmentation / detection, which a user otherwise sees only
after pretraining and a long fine-tuning. Every ``interval`` epochs this hook freezes the current
backbone, extracts features of a small labelled segmentation split in VOC layout, fits a linear
per-pixel classifier (a 1x1 conv; logits bilinearly upsampled to the label resolution, cross-
entropy, full-batch Adam on cached features) on the train list, and logs the val mIoU as
``probe/mIoU`` next to the loss.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from PIL import Image

from densepre.datasets.transforms.loading import decode_image
from densepre.registry import HOOKS


def confusion_miou(pred: torch.Tensor, gt: torch.Tensor, num_classes: int,
                   ignore_index: int = 255) -> float:
    """Mean IoU (in %) over the classes present in the ground truth or the prediction."""
    valid = gt != ignore_index
    idx = gt[valid].long() * num_classes + pred[valid].long()
    conf = torch.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)
    inter = conf.diag().float()
    union = conf.sum(0).float() + conf.sum(1).float() - inter
    present = union > 0
    return float((inter[present] / union[present]).mean() * 100) if present.any() else 0.0


@HOOKS.register_module()
class DenseProbeHook(Hook):
    """Fit and evaluate a linear per-pixel probe on frozen backbone features every N epochs.

    Args:
        data_root: a VOC-layout root (``JPEGImages/``, label PNGs, split lists), e.g.
            ``data/VOCdevkit/VOC2012`` or the demo's.
        train_split / val_split: list files relative to ``data_root``.
        seg_dir: label folder (palette or plain PNGs, 255 = ignore).
        num_classes: number of label classes (21 for VOC).
        interval: run every ``interval`` epochs (and after the last one).
        image_size: images and labels are resized to this square size.
        max_images: cap on images per split (the probe must stay cheap).
        stage: backbone output index used as features (-1: last stage).
        steps / lr: full-batch Adam steps and learning rate of the probe.
        mean / std: RGB normalisation (the pretraining data preprocessor's).
    """

    priority = 'LOW'

    def __init__(self,
                 data_root: str,
                 train_split: str = 'ImageSets/Segmentation/train.txt',
                 val_split: str = 'ImageSets/Segmentation/val.txt',
                 img_dir: str = 'JPEGImages',
                 seg_dir: str = 'SegmentationClass',
                 num_classes: int = 21,
                 interval: int = 1,
                 image_size: int = 224,
                 max_images: Optional[int] = 500,
                 stage: int = -1,
                 steps: int = 100,
                 lr: float = 0.05,
                 batch_size: int = 16,
                 ignore_index: int = 255,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375)) -> None:
        for split in (train_split, val_split):
            if not osp.isfile(osp.join(data_root, split)):
                raise FileNotFoundError(f'DenseProbeHook: split list not found: '
                                        f'{osp.join(data_root, split)}')
        self.data_root, self.img_dir, self.seg_dir = data_root, img_dir, seg_dir
        self.splits = dict(train=train_split, val=val_split)
        self.num_classes, self.interval, self.image_size = num_classes, interval, image_size
        self.max_images, self.stage, self.steps, self.lr = max_images, stage, steps, lr
        self.batch_size, self.ignore_index = batch_size, ignore_index
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self._data = {}

    def _load_split(self, split: str):
        if split in self._data:
            return self._data[split]
        with open(osp.join(self.data_root, self.splits[split])) as f:
            ids = [ln.strip() for ln in f if ln.strip()][:self.max_images]
        s = self.image_size
        imgs, labels = [], []
        for name in ids:
            with open(osp.join(self.data_root, self.img_dir, name + '.jpg'), 'rb') as f:
                bgr = decode_image(f.read(), name)
            imgs.append(np.asarray(Image.fromarray(bgr[..., ::-1]).resize((s, s),
                                                                        Image.BILINEAR)))
            with Image.open(osp.join(self.data_root, self.seg_dir, name + '.png')) as lab:
                labels.append(np.asarray(lab.resize((s, s), Image.NEAREST)))
        img = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()
        self._data[split] = ((img - self.mean) / self.std,
                             torch.from_numpy(np.stack(labels)).long())
        return self._data[split]

    @torch.no_grad()
    def _features(self, backbone, images: torch.Tensor, device) -> torch.Tensor:
        feats = [backbone(images[i:i + self.batch_size].to(device))[self.stage].float().cpu()
                 for i in range(0, len(images), self.batch_size)]
        return torch.cat(feats)

    def probe(self, backbone) -> float:
        """Fit on the train split, return val mIoU (%)."""
        device = next(backbone.parameters()).device
        was_training = backbone.training
        backbone.eval()
        try:
            (x_tr, y_tr), (x_val, y_val) = self._load_split('train'), self._load_split('val')
            f_tr, f_val = self._features(backbone, x_tr, device), self._features(backbone, x_val,
                                                                                device)
        finally:
            backbone.train(was_training)
        # standardise channels with train statistics (the probe's only normalisation)
        mu = f_tr.mean(dim=(0, 2, 3), keepdim=True)
        sd = f_tr.std(dim=(0, 2, 3), keepdim=True) + 1e-6
        f_tr, f_val = (f_tr - mu) / sd, (f_val - mu) / sd
        with torch.enable_grad(), torch.random.fork_rng():
            torch.manual_seed(0)  # the probe is deterministic given the features
            head = torch.nn.Conv2d(f_tr.shape[1], self.num_classes, 1)
            opt = torch.optim.Adam(head.parameters(), lr=self.lr)
            for _ in range(self.steps):
                logits = F.interpolate(head(f_tr), size=y_tr.shape[-2:], mode='bilinear',
                                       align_corners=False)
                loss = F.cross_entropy(logits, y_tr, ignore_index=self.ignore_index)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            pred = F.interpolate(head(f_val), size=y_val.shape[-2:], mode='bilinear',
                                 align_corners=False).argmax(1)
        return confusion_miou(pred, y_val, self.num_classes, self.ignore_index)

    @master_only
    def after_train_epoch(self, runner) -> None:
        if not (self.every_n_epochs(runner, self.interval) or self.is_last_train_epoch(runner)):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        miou = self.probe(model.backbone)
        runner.message_hub.update_scalar('probe/mIoU', miou)
        runner.visualizer.add_scalars({'probe/mIoU': miou}, step=runner.iter)
        runner.logger.info(f'Epoch {runner.epoch + 1}: dense probe (linear, frozen '
                           f'features) val mIoU = {miou:.2f}')
