"""Image loading that survives real-world image folders.

ImageNet and web-crawled sets contain CMYK and grayscale JPEGs, 16-bit and RGBA PNGs, palette
images, truncated or corrupt files, and list entries whose file has gone. :class:`LoadImageRobust`
decodes every readable variant to 8-bit 3-channel BGR (what mmcv's loader returns) and, for an
unreadable or missing file, either raises an error naming the file or returns ``None`` — MMEngine's
``BaseDataset`` then draws another sample, so an epoch never dies half-way. Skips are counted and
logged with the file name and a running total over all data-loader workers.

Two more kinds of file are skipped by default: images whose header declares more than
``max_pixels`` pixels (a 16000x16000 PNG decodes to 768 MB per copy, in every worker) — and,
while that limit is on, files whose size Pillow cannot read from the header (OpenCV would decode
e.g. a Radiance HDR named ``.JPEG`` whatever its size: 2.9 GB at 12000², ~13 GB at 30000²) —
and images with a side shorter than ``min_size`` (a 1x1 image stretched to a 224 crop is one
flat colour, a pair of views the network can match trivially).
"""
import io
import logging
import multiprocessing
import os
import warnings
from collections import Counter
from typing import Optional

import cv2
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine.logging import print_log
from PIL import Image

from densepre.registry import TRANSFORMS

# Per-process count of skipped files by reason (each dataloader worker has its own) ...
SKIPPED = Counter()
# ... and the total over the process that imported this module and every worker forked from it
# (densepre's default ``mp_start_method='fork'``); spawned workers count on their own.
_TOTAL_SKIPPED = multiprocessing.get_context('fork').Value('q', 0)
_TOTAL_OWNER = os.getpid()

#: default pixel limit: 100 Mpx (300 MB as 8-bit BGR); ImageNet's largest images are ~20 Mpx
MAX_PIXELS = 100_000_000
#: default shortest side: below 16 px a view crop (>= 20 % of the area) is a few pixels
#: upsampled > 30x, i.e. a flat colour patch
MIN_SIZE = 16


def _count_skip(reason: str) -> str:
    """Count a skip; returns the running totals as text for the log line."""
    SKIPPED[reason] += 1
    try:
        from torch.utils.data import get_worker_info
        spawned = get_worker_info() is not None and os.getpid() == _TOTAL_OWNER
    except ImportError:
        spawned = False
    if spawned:
        return f'{sum(SKIPPED.values())} skipped so far by this worker'
    with _TOTAL_SKIPPED.get_lock():
        _TOTAL_SKIPPED.value += 1
        total = _TOTAL_SKIPPED.value
    return f'{total} skipped so far in total (all workers)'


def skipped_total() -> int:
    """Images skipped so far by this process and the workers forked from it."""
    return _TOTAL_SKIPPED.value


def header_size(data: bytes):
    """(width, height) from the image header without decoding the pixels, or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                return pil.size
    except Image.DecompressionBombError:  # above 2x Pillow's own limit: read the size anyway
        old, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as pil:
                return pil.size
        except Exception:  # noqa: BLE001
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = old
    except Exception:  # noqa: BLE001 - not parseable by Pillow: OpenCV may still read it
        return None


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
        min_size (int): images with a side shorter than this are skipped (default 16).
        max_pixels (int | None): images whose header declares more pixels are skipped before
            decoding (default 100 Mpx; None: no limit).
        **kwargs: ``mmcv.transforms.LoadImageFromFile`` arguments (``backend_args`` ...).
    """

    def __init__(self, on_error: str = 'skip', min_size: int = MIN_SIZE,
                 max_pixels: Optional[int] = MAX_PIXELS, **kwargs) -> None:
        super().__init__(**kwargs)
        if on_error not in ('skip', 'raise'):
            raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
        if min_size < 1 or (max_pixels is not None and max_pixels < min_size**2):
            raise ValueError(f'LoadImageRobust: need 1 <= min_size and min_size**2 <= max_pixels, '
                             f'got min_size={min_size}, max_pixels={max_pixels}')
        self.on_error = on_error
        self.min_size = min_size
        self.max_pixels = max_pixels

    def _check_pixels(self, filename: str, width: int, height: int) -> None:
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise UnreadableImageError(
                f'image {filename} is {width}x{height} = {width * height / 1e6:.0f} Mpx, above '
                f'max_pixels={self.max_pixels / 1e6:.0f} Mpx (decoding it would take '
                f'{width * height * 3 / 2**30:.1f} GB per worker); raise LoadImageRobust('
                'max_pixels=...) to use it')

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            try:
                data = fileio.get(filename, backend_args=self.backend_args)
            except FileNotFoundError as e:
                raise FileNotFoundError(f'image listed in the dataset is missing: {filename}') from e
            if self.max_pixels is not None:
                size = header_size(data)
                if size is None and data:
                    raise UnreadableImageError(
                        f'image {filename}: Pillow cannot read its header, so its size cannot '
                        f'be checked against max_pixels={self.max_pixels / 1e6:.0f} Mpx before '
                        'decoding (OpenCV would decode it whatever its size); convert it to '
                        'JPEG / PNG, or set LoadImageRobust(max_pixels=None) to accept such '
                        'files unchecked')
                if size:
                    self._check_pixels(filename, *size)
            img = decode_image(data, filename)
            self._check_pixels(filename, img.shape[1], img.shape[0])
            if min(img.shape[:2]) < self.min_size:
                raise UnreadableImageError(
                    f'image {filename} is {img.shape[1]}x{img.shape[0]}, smaller than '
                    f'min_size={self.min_size}')
        except (OSError, UnreadableImageError) as e:
            if self.on_error == 'raise':
                raise
            totals = _count_skip(type(e).__name__)
            print_log(f'skipping image ({totals}): {e}', logger='current',
                      level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(on_error={self.on_error!r}, '
                f'min_size={self.min_size}, max_pixels={self.max_pixels}, '
                f'to_float32={self.to_float32})')
