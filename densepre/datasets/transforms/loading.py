"""Image loading that survives real-world image folders.

ImageNet and web-crawled sets contain CMYK and grayscale JPEGs, 16-bit and RGBA PNGs, palette
images, truncated or corrupt files, and list entries whose file has gone. :class:`LoadImageRobust`
decodes every readable variant to 8-bit 3-channel BGR (what mmcv's loader returns) and, for an
unreadable or missing file, either raises an error naming the file or returns ``None`` — MMEngine's
``BaseDataset`` then draws another sample, so an epoch never dies half-way. Skips are counted and
logged with the file name.
"""
import io
import logging
from collections import Counter
from typing import Optional

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from PIL import Image

from densepre.registry import TRANSFORMS

# Per-process count of skipped files by reason (each dataloader worker has its own).
SKIPPED = Counter()


class UnreadableImageError(IOError):
    """An image file that exists but cannot be decoded."""


def decode_image(data: bytes, filename: str = '<bytes>') -> np.ndarray:
    """Decode image bytes to an 8-bit BGR ``uint8`` array (H, W, 3).

    Grayscale, palette, RGBA (alpha dropped), 16-bit (scaled to 8 bit) and CMYK inputs are
    converted; anything OpenCV cannot read is retried with Pillow.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if img is None:
        try:
            with Image.open(io.BytesIO(data)) as pil:
                pil.load()
                if pil.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
                    arr = np.asarray(pil, dtype=np.float64)
                    arr = (arr / max(arr.max(), 1) * 255).astype(np.uint8)
                    img = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
                else:
                    img = cv2.cvtColor(np.asarray(pil.convert('RGB')), cv2.COLOR_RGB2BGR)
        except Exception as e:  # noqa: BLE001 - any decoder failure means unreadable
            raise UnreadableImageError(f'cannot decode image {filename}: {e}') from e
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise UnreadableImageError(f'cannot decode image {filename}: shape {img.shape}')
    return img


@TRANSFORMS.register_module()
class LoadImageRobust(LoadImageFromFile):
    """Load an image as 8-bit BGR, skipping (or raising on) unreadable / missing files.

    Args:
        on_error (str): ``'skip'`` (default) returns ``None`` so the dataset draws another sample
            and logs a counted warning; ``'raise'`` raises an error naming the file.
        min_size (int): images with a side shorter than this are treated as unreadable
            (default 1: every decodable image is kept; crops upsample tiny images).
        **kwargs: ``mmcv.transforms.LoadImageFromFile`` arguments (``backend_args`` ...).
    """

    def __init__(self, on_error: str = 'skip', min_size: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        if on_error not in ('skip', 'raise'):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        self.on_error = on_error
        self.min_size = min_size

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            try:
                data = fileio.get(filename, backend_args=self.backend_args)
            except FileNotFoundError as e:
                raise FileNotFoundError(f'image listed in the dataset is missing: {filename}') from e
            img = decode_image(data, filename)
            if min(img.shape[:2]) < self.min_size:
                raise UnreadableImageError(
                    f'image {filename} is {img.shape[1]}x{img.shape[0]}, smaller than '
                    f'min_size={self.min_size}')
        except (OSError, UnreadableImageError) as e:
            if self.on_error == 'raise':
                raise
            SKIPPED[type(e).__name__] += 1
            total = sum(SKIPPED.values())
            print_log(f'skipping unreadable image ({total} skipped so far in this process): {e}',
                      logger='current', level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(on_error={self.on_error!r}, '
                f'min_size={self.min_size}, to_float32={self.to_float32})')
