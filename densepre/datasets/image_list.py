"""Unlabelled image sets for pretraining: ImageNet (folder or ann-file), IN-100, COCO, any folder."""
import json
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import get, get_file_backend
from mmpretrain.datasets import CustomDataset

from densepre.registry import DATASETS

from .seeding import seeded_rng

# Named class subsets shipped with densepre: IN-100 is CMC's (Tian et al., 2019) 100-class list,
# the subset LEWEL / CMC / many SSL ablations use.
PACKAGED_SUBSETS = {
    'imagenet100': osp.join(osp.dirname(osp.abspath(__file__)), 'meta', 'imagenet100.txt'),
}

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def read_list_file(path: str, what: str = 'list file') -> List[str]:
    """The lines of a UTF-8 text list, checked when the dataset is built: a NUL byte (which makes
    ``open`` fail in a data-loader worker mid-epoch, "embedded null byte") or bytes that are not
    UTF-8 are refused naming the file, the line and the column (up to 5 lines, and how many)."""
    raw = get(path)
    lines, bad = [], []
    for lineno, line in enumerate(raw.splitlines(), 1):
        nul = line.find(b'\x00')
        if nul >= 0:
            bad.append(f'{path}:{lineno}: NUL byte at column {nul + 1}')
            continue
        try:
            lines.append(line.decode('utf-8'))
        except UnicodeDecodeError as e:
            bad.append(f'{path}:{lineno}: byte 0x{line[e.start]:02x} at column {e.start + 1} '
                       'is not UTF-8')
    if bad:
        raise ValueError(f'{what} {path}: {len(bad)} line(s) are not valid text (an image path '
                         'cannot contain them; the file may be corrupt or in another encoding):\n  '
                         + '\n  '.join(bad[:5]) + ('\n  ...' if len(bad) > 5 else ''))
    return lines


def _read_class_subset(subset: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(subset, str):
        subset = PACKAGED_SUBSETS.get(subset, subset)
        if not osp.isfile(subset):
            raise FileNotFoundError(f'class_subset file not found: {subset}')
        names = [ln.split()[0] for ln in read_list_file(subset, 'class_subset') if ln.strip()]
    else:
        names = list(subset)
    if not names:
        raise ValueError(f'class_subset {subset!r} names no class')
    return names


@DATASETS.register_module()
class ImageList(CustomDataset):
    """Images from an ImageNet-style folder tree or an annotation list.

    * ``ann_file`` given: one sample per line, ``relative/path.JPEG [label]`` (the mmpretrain /
      ImageNet ``meta/train.txt`` format); blank lines and ``#`` comments are skipped.
    * no ``ann_file``: every image below ``data_prefix`` (``class_dir/image``) is a sample.

    Args:
        class_subset (str | list[str], optional): keep only images whose first path component
            (the class folder, e.g. an ImageNet wnid) is listed — ``'imagenet100'`` (CMC's IN-100
            list, shipped in densepre/datasets/meta), a text file with one class per line, or a
            list. Labels are re-indexed in list order.
        **kwargs: ``mmpretrain.datasets.CustomDataset`` arguments (``data_root``,
            ``data_prefix``, ``ann_file``, ``pipeline``, ...).
    """

    def __init__(self,
                 *args,
                 class_subset: Optional[Union[str, Sequence[str]]] = None,
                 with_label: bool = False,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 **kwargs) -> None:
        self.class_subset = class_subset
        super().__init__(*args, with_label=with_label, extensions=extensions, **kwargs)

    def load_data_list(self) -> List[dict]:
        if self.ann_file:
            if not osp.isfile(self.ann_file):
                raise FileNotFoundError(f'{type(self).__name__}: ann_file not found: '
                                        f'{self.ann_file}')
            samples = []
            for lineno, line in enumerate(read_list_file(self.ann_file, 'ann_file'), 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                parts = line.rsplit(maxsplit=1)
                if len(parts) == 2 and parts[1].lstrip('-').isdigit():
                    samples.append((parts[0], int(parts[1])))
                else:
                    samples.append((line, -1))
                if not samples[-1][0]:
                    raise ValueError(f'{self.ann_file}:{lineno}: empty image path')
        else:
            if not osp.isdir(self.img_prefix):
                raise FileNotFoundError(f'{type(self).__name__}: image folder not found: '
                                        f'{self.img_prefix}')
            found = self._find_samples()
            samples = [(s, -1) if isinstance(s, str) else (s[0], s[1]) for s in found]

        if self.class_subset is not None:
            keep = _read_class_subset(self.class_subset)
            index = {name: i for i, name in enumerate(keep)}
            samples = [(path, index[path.replace('\\', '/').split('/')[0]])
                       for path, _ in samples
                       if path.replace('\\', '/').split('/')[0] in index]
            if not samples:
                raise ValueError(f'no image of the class_subset ({len(keep)} classes, e.g. '
                                 f'{keep[:3]}) found in {self.ann_file or self.img_prefix}')
            self._metainfo['classes'] = tuple(keep)

        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        data_list = []
        for path, label in samples:
            info = {'img_path': backend.join_path(self.img_prefix, path)}
            if self.with_label:
                info['gt_label'] = label
            data_list.append(info)
        check_images_exist(self, data_list)
        return data_list

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        indices = self._indices
        if indices is not None and (indices == 0 if isinstance(indices, int) else
                                    len(indices) == 0):
            raise ValueError(f'{type(self).__name__} ({_source(self)}): indices={indices!r} '
                             'selects no sample (an int keeps the first N samples, a list the '
                             'listed ones; omit it to use all)')
        super().full_init()

    def __getitem__(self, idx):
        # SeededIndexSampler tags indices with the seed of this sample's augmentations
        with seeded_rng(getattr(idx, 'seed', None)):
            return self._get_readable(int(idx))

    def _get_readable(self, idx: int):
        """MMEngine's refetch loop (a skipped image is replaced by a random other one), but
        stopped with one error once every listed image has failed in this process, instead of
        ``max_refetch`` + 1 skip warnings and a generic message."""
        if not self._fully_initialized:
            self.full_init()
        if self.test_mode:
            return super().__getitem__(idx)
        failed = getattr(self, '_unreadable', None)
        if failed is None:
            failed = self._unreadable = set()
        for _ in range(self.max_refetch + 1):
            data = self.prepare_data(idx)
            if data is not None:
                return data
            failed.add(idx)
            if len(failed) >= len(self):
                raise RuntimeError(
                    f'{type(self).__name__}: none of the {len(self)} images listed in '
                    f'{_source(self)} could be read (every one was skipped, see the warnings '
                    'above): check the files and the loading pipeline')
            idx = int(np.random.randint(0, len(self)))
        raise RuntimeError(
            f'{type(self).__name__}: {self.max_refetch + 1} images of {_source(self)} in a row '
            f'could not be read ({len(failed)} of {len(self)} distinct images failed so far in '
            'this process): check the files and the loading pipeline')


def _source(dataset) -> str:
    return dataset.ann_file or dataset.img_prefix


def check_images_exist(dataset, data_list: List[dict], probe: int = 16) -> None:
    """One clear error at start instead of a skip warning per image: the list is empty, or none
    of its first ``probe`` images exists (a wrong ``data_prefix`` / ``data_root``)."""
    name = type(dataset).__name__
    if not data_list:
        raise ValueError(f'{name}: {_source(dataset)} lists no image (expected one '
                         '"relative/path.jpg [label]" per line, or images in class folders)')
    paths = [d['img_path'] for d in data_list[:probe]]
    if any('://' in p for p in paths):  # remote storage: checked when read
        return
    if not any(osp.isfile(p) for p in paths):
        raise FileNotFoundError(
            f'{name}: none of the first {len(paths)} images listed in {_source(dataset)} exists, '
            f'e.g. {paths[0]}. Is data_prefix / data_root right? (images are looked up under '
            f'{dataset.img_prefix})')


@DATASETS.register_module()
class CocoImages(ImageList):
    """COCO images (e.g. ``train2017``) as an unlabelled set, as used by Revisiting-Contrastive.

    With ``ann_file`` a COCO ``instances_*.json`` (only its ``images`` list is read);
    without, every image in ``data_prefix`` is used.
    """

    def load_data_list(self) -> List[dict]:
        if not self.ann_file:
            return super().load_data_list()
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'CocoImages: ann_file not found: {self.ann_file}')
        with open(self.ann_file) as f:
            try:
                images = json.load(f)['images']
            except (ValueError, KeyError) as e:
                raise ValueError(f'{self.ann_file} is not a COCO json with an "images" list: '
                                 f'{e}') from e
        bad = [im.get('file_name') for im in images
               if not isinstance(im.get('file_name'), str) or '\x00' in im['file_name']]
        if bad:
            raise ValueError(f'{self.ann_file}: {len(bad)} "images" entries have no usable '
                             f'file_name (missing, not a string, or with a NUL byte), e.g. '
                             f'{bad[0]!r}')
        backend = get_file_backend(self.img_prefix, enable_singleton=True)
        data_list = [{'img_path': backend.join_path(self.img_prefix, im['file_name'])}
                     for im in sorted(images, key=lambda im: im['id'])]
        check_images_exist(self, data_list)
        return data_list
