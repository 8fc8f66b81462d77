"""Datasets named by parameter: ``torchvision:<ClassName>``, ``folder:<path>`` or ``npz:<path>``.

A data source is a spec string parsed once at the boundary (in the style of RobustBench's dataset
names) into a frozen :class:`DataSource`; :func:`load_source` reads it into the project's uint8 NCHW
:class:`~aad_lib.data.ImageTensorDataset` pair (train and test) plus the class names. Nothing else is
computed here: the pipeline measures mean/std and writes the prepared file.

- ``torchvision:<ClassName>``: one of the torchvision classification datasets in :data:`TORCHVISION`,
  stored under ``<root>/<ClassName>/``. Both constructor conventions are handled (``train=True/False``
  and ``split="train"/"test"``; the table gives each dataset's own split names). Images are read
  through ``.data`` (numpy or tensor; HW, HWC or CHW) when the dataset has it, otherwise one PIL
  image at a time. ``EMNIST`` is read with ``split="balanced"`` (47 classes, the split its authors
  recommend for classification) and transposed upright (torchvision keeps the raw files' transposed
  orientation). Datasets that torchvision ships as one set (Caltech101, EuroSAT, ...) are split here.
- ``folder:<path>``: an ImageFolder tree (one sub-folder per class, sorted names -> labels 0..K-1), or
  ``train/`` and ``test/`` sub-trees with the same class folders (other sub-folders of a split
  layout, e.g. ``val/``, are ignored). Files ending in .png, .jpg, .jpeg, .bmp, .gif, .webp, .tif or
  .tiff are read (searched recursively inside each class folder); other files, and names starting with
  ``.`` (``.ipynb_checkpoints``), are skipped. The images are grey (1 channel) when every image of the
  split has a grey mode ('1', 'L', 'LA', 'I;16*', 'I': 16-bit values scaled by 1/257), otherwise RGB
  (3 channels; grey images replicated, alpha dropped, palettes expanded).
- ``npz:<path>``: arrays ``x`` ((N, H, W) or (N, H, W, C) with C in {1, 3}; uint8, or float in
  [0, 1] converted with ``round(x * 255)``) and ``y`` (integer labels 0..K-1, every class present);
  optional ``x_test`` / ``y_test``.

Paths of ``folder:`` and ``npz:`` are taken as written (relative to the working directory, ``~``
expanded); ``root`` only places torchvision datasets. ``size > 0`` resizes every image to
``size x size`` with Pillow's bilinear filter; with ``size == 0`` all images must share one square
size. Without a test split (a folder without ``train/``/``test/``, an npz without ``x_test``, a
one-set torchvision dataset) each class is split with ``round(test_fraction * n_class)`` test images
(at least one on each side, else an error), seeded by ``split_seed`` with ``numpy.random.default_rng``;
each split is then shuffled once with the same generator, as ``data.mnist5k_split_indices`` does, so
that any prefix mixes the classes. A folder's ``train/``/``test/`` trees are shuffled the same way
(files are read class by class); npz and torchvision splits keep their stored order. Bad data raises
:class:`~aad_lib.validation.AadError` naming the file and the problem.
"""
from __future__ import annotations

import inspect
import math
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch

from .data import ImageTensorDataset
from .validation import AadError, check_count, choose

__all__ = ["KINDS", "TORCHVISION", "IMAGE_EXTENSIONS", "DataSource", "Loaded", "is_source", "load_source"]

KINDS = ("torchvision", "folder", "npz")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N"})
SIZE_HINT = "pass size > 0 (data.size) to resize every image to size x size"


@dataclass(frozen=True)
class _Torchvision:
    """How to build one torchvision classification dataset: the constructor keywords of each split
    (``test=None``: torchvision has one set, split here), whether torchvision can download it, and
    whether its ``.data`` is stored transposed (EMNIST)."""

    train: Mapping[str, Any] = field(default_factory=dict)
    test: Mapping[str, Any] | None = None
    download: bool = True
    transpose: bool = False


_FLAG = (MappingProxyType({"train": True}), MappingProxyType({"train": False}))
_SPLIT = (MappingProxyType({"split": "train"}), MappingProxyType({"split": "test"}))
TORCHVISION: dict[str, _Torchvision] = {
    # train=True / train=False
    "MNIST": _Torchvision(*_FLAG),
    "FashionMNIST": _Torchvision(*_FLAG),
    "KMNIST": _Torchvision(*_FLAG),
    "QMNIST": _Torchvision(*_FLAG),
    "EMNIST": _Torchvision({"split": "balanced", "train": True}, {"split": "balanced", "train": False},
                           transpose=True),
    "USPS": _Torchvision(*_FLAG),
    "CIFAR10": _Torchvision(*_FLAG),
    "CIFAR100": _Torchvision(*_FLAG),
    # split="train" / split="test" (or the dataset's own names)
    "SVHN": _Torchvision(*_SPLIT),
    "STL10": _Torchvision(*_SPLIT),
    "GTSRB": _Torchvision(*_SPLIT),
    "Flowers102": _Torchvision(*_SPLIT),
    "Food101": _Torchvision(*_SPLIT),
    "StanfordCars": _Torchvision(*_SPLIT),
    "Country211": _Torchvision(*_SPLIT),
    "DTD": _Torchvision(*_SPLIT),
    "FER2013": _Torchvision(*_SPLIT, download=False),
    "PCAM": _Torchvision(*_SPLIT),
    "RenderedSST2": _Torchvision(*_SPLIT),
    "FGVCAircraft": _Torchvision({"split": "trainval"}, {"split": "test"}),
    "OxfordIIITPet": _Torchvision({"split": "trainval"}, {"split": "test"}),
    "Imagenette": _Torchvision({"split": "train"}, {"split": "val"}),
    "ImageNet": _Torchvision({"split": "train"}, {"split": "val"}, download=False),
    # one set: split here (test_fraction, split_seed)
    "Caltech101": _Torchvision(),
    "Caltech256": _Torchvision(),
    "EuroSAT": _Torchvision(),
    "SUN397": _Torchvision(),
    "SEMEION": _Torchvision(),
}


# ---------------------------------------------------------------- the spec

@dataclass(frozen=True)
class DataSource:
    """A dataset named by parameter, parsed once: its kind and its target (a class name or a path).

    Build it with :meth:`DataSource.parse`; :meth:`DataSource.check` validates it cheaply (no
    loading) and :func:`load_source` reads it. ``spec`` gives the string back (``"kind:target"``),
    which names the loaded datasets.

    Arguments:
        kind (str): ``"torchvision"``, ``"folder"`` or ``"npz"``.
        target (str): the torchvision class name (``"FashionMNIST"``), or the path of the folder or
            the ``.npz`` file.

    Examples:
        >>> from aad_lib.data_sources import DataSource
        >>> source = DataSource.parse("torchvision:FashionMNIST")
        >>> source.kind, source.target, source.spec
        ('torchvision', 'FashionMNIST', 'torchvision:FashionMNIST')
    """

    kind: str
    target: str

    def __post_init__(self) -> None:
        choose(self.kind, KINDS, "data source kind")
        if not isinstance(self.target, str) or not self.target.strip():
            raise AadError(f"data source {self.kind}: needs a target after the colon, e.g. {_EXAMPLES[self.kind]}.")

    @property
    def spec(self) -> str:
        """The spec string, ``"kind:target"``."""
        return f"{self.kind}:{self.target}"

    @property
    def path(self) -> Path:
        """The target as a path (``~`` expanded), for ``folder:`` and ``npz:``."""
        return Path(self.target).expanduser()

    @classmethod
    def parse(cls, spec: str) -> DataSource:
        """Parse a spec ``"kind:target"`` into a :class:`DataSource` (the kind is case-insensitive).

        E.g. ``torchvision:FashionMNIST``, ``folder:data/my_images``, ``npz:data/x.npz``; only the
        first colon splits.

        Arguments:
            spec (str): the spec string.

        Examples:
            >>> from aad_lib.data_sources import DataSource
            >>> DataSource.parse("folder:data/my_images")
            DataSource(kind='folder', target='data/my_images')
        """
        if not isinstance(spec, str):
            raise AadError(f"a data source is a string 'kind:target', got {type(spec).__name__}.")
        kind, colon, target = spec.strip().partition(":")
        if not colon:
            raise AadError(f"data source {spec!r} has no kind: write 'kind:target' with kind one of "
                           f"{', '.join(KINDS)} (e.g. {', '.join(_EXAMPLES.values())}).")
        return cls(kind.strip().lower(), target.strip())

    def check(self, root: str | Path = "data") -> None:
        """Check the source cheaply, without loading it; raise :class:`AadError` when it is wrong.

        A torchvision name must be a known classification dataset of the installed torchvision
        (did-you-mean otherwise); a folder or npz file must exist (the error names the path).

        Arguments:
            root (str | Path): where torchvision datasets live (``<root>/<ClassName>/``); unused by
                ``folder:`` and ``npz:``. Default: ``"data"``.

        Examples:
            >>> import tempfile
            >>> from aad_lib.data_sources import DataSource
            >>> DataSource.parse(f"folder:{tempfile.mkdtemp()}").check()
            >>> DataSource.parse("torchvision:FashionMNST").check()  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            aad_lib.validation.AadError: unknown torchvision ... 'FashionMNST'. Did you mean 'FashionMNIST'? ...
        """
        if self.kind == "torchvision":
            _torchvision_class(self.target)
        elif self.kind == "folder":
            if not self.path.is_dir():
                what = "is a file, not a folder" if self.path.exists() else "does not exist"
                raise AadError(f"{self.spec}: the folder {self.path} {what}; give a folder with one sub-folder "
                               "of images per class.")
        elif not self.path.is_file():
            what = "is a folder, not a file" if self.path.exists() else "does not exist"
            raise AadError(f"{self.spec}: the file {self.path} {what}; give an .npz file with arrays x and y "
                           "(np.savez(path, x=images, y=labels)).")


_EXAMPLES = {"torchvision": "torchvision:FashionMNIST", "folder": "folder:data/my_images", "npz": "npz:data/x.npz"}


def is_source(name: str) -> bool:
    """Whether ``name`` is a data source spec rather than a registered dataset of :mod:`aad_lib.data`.

    True for the prefixes ``torchvision:``, ``folder:`` and ``npz:`` (case-insensitive), also when
    the rest is wrong (:meth:`DataSource.parse` and :meth:`DataSource.check` say what is).

    Arguments:
        name (str): a dataset name or a data source spec.

    Examples:
        >>> from aad_lib.data_sources import is_source
        >>> is_source("npz:data/x.npz"), is_source("mnist5k")
        (True, False)
    """
    if not isinstance(name, str):
        return False
    kind, colon, _ = name.strip().partition(":")
    return bool(colon) and kind.strip().lower() in KINDS


@dataclass(frozen=True)
class Loaded:
    """Both splits of a loaded data source and its class names (label ``k`` is ``classes[k]``).

    Arguments:
        train (ImageTensorDataset): the training images, split ``"train"``, named by the spec.
        test (ImageTensorDataset): the test images, split ``"test"``, named by the spec.
        classes (list[str]): the class names: folder names for ``folder:``, torchvision's
            ``.classes`` when it has them, else ``"0"`` .. ``"K-1"``.

    Shape:
        - train.images: (N_train, C, S, S) uint8, C in {1, 3}.
        - train.labels: (N_train,) int64 in [0, K).
        - test.images: (N_test, C, S, S) uint8; test.labels: (N_test,) int64 in [0, K).

    Examples:
        >>> import torch
        >>> from aad_lib.data import ImageTensorDataset
        >>> from aad_lib.data_sources import Loaded
        >>> images = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
        >>> ds = ImageTensorDataset(images, torch.tensor([0, 1]), "npz:x.npz", "train")
        >>> Loaded(ds, ds, ["0", "1"]).classes
        ['0', '1']
    """

    train: ImageTensorDataset
    test: ImageTensorDataset
    classes: list[str]


def load_source(source: DataSource, root: str | Path = "data", *, size: int = 0, test_fraction: float = 0.2,
                split_seed: int = 0, download: bool = False) -> Loaded:
    """Read a data source into uint8 train/test datasets and its class names, checking the data.

    Without a stored test split, each class is split with ``round(test_fraction * n)`` test images
    (seeded by ``split_seed``), and both splits are shuffled once (see the module docstring).
    Deterministic: the same inputs give identical tensors.

    Arguments:
        source (DataSource): the parsed spec.
        root (str | Path): where torchvision datasets live (``<root>/<ClassName>/``). Default: ``"data"``.
        size (int): 0 keeps the images' own (square, common) size; > 0 resizes every image to
            size x size (Pillow, bilinear). Default: 0.
        test_fraction (float): the fraction of each class held out when the source has no test
            split, in (0, 1). Default: 0.2.
        split_seed (int): seed of that split and of the shuffles, >= 0. Default: 0.
        download (bool): let torchvision download missing files (network). Default: False.

    Shape:
        - returns.train.images: (N_train, C, S, S) uint8, C in {1, 3}; returns.train.labels: (N_train,) int64.
        - returns.test.images: (N_test, C, S, S) uint8; returns.test.labels: (N_test,) int64.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from aad_lib.data_sources import DataSource, load_source
        >>> path = Path(tempfile.mkdtemp()) / "tiny.npz"
        >>> np.savez(path, x=np.zeros((8, 4, 4), np.uint8), y=np.arange(8) % 2)
        >>> loaded = load_source(DataSource.parse(f"npz:{path}"))
        >>> tuple(loaded.train.images.shape), tuple(loaded.test.images.shape), loaded.classes
        ((6, 1, 4, 4), (2, 1, 4, 4), ['0', '1'])
    """
    if not isinstance(source, DataSource):
        raise AadError(f"load_source takes a DataSource (DataSource.parse(spec)), got {type(source).__name__}.")
    check_count(size, "size", 0)
    check_count(split_seed, "split_seed", 0)
    if (not isinstance(test_fraction, (int, float)) or isinstance(test_fraction, bool)
            or not math.isfinite(test_fraction) or not 0 < test_fraction < 1):
        raise AadError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}.")
    source.check(root)
    if source.kind == "folder":
        splits, classes = _load_folder(source, size)
    elif source.kind == "npz":
        splits, classes = _load_npz(source, size)
    else:
        splits, classes = _load_torchvision(source, Path(root), size, download)
    rng = np.random.default_rng(split_seed)
    if "all" in splits:  # no stored test split: stratified split, then one shuffle of each side
        images, labels = splits.pop("all")
        idx = _stratified_split(labels, classes, test_fraction, rng, source.spec)
        splits = {split: (images[i], labels[i]) for split, i in idx.items()}
    elif source.kind == "folder":  # read class by class: shuffle once so that prefixes mix classes
        for split, (images, labels) in list(splits.items()):
            order = rng.permutation(len(labels))
            splits[split] = (images[order], labels[order])
    train, test = (ImageTensorDataset(torch.from_numpy(np.ascontiguousarray(splits[s][0])),
                                      torch.from_numpy(splits[s][1].astype(np.int64)), source.spec, s)
                   for s in ("train", "test"))
    return Loaded(train, test, list(classes))


# ---------------------------------------------------------------- split

Arrays = tuple[np.ndarray, np.ndarray]  # uint8 (N, C, S, S) images, int64 (N,) labels


def _stratified_split(labels: np.ndarray, classes: list[str], test_fraction: float, rng: np.random.Generator,
                      spec: str) -> dict[str, np.ndarray]:
    """Per class a seeded permutation, the first ``round(test_fraction * n)`` to test; each side then
    permuted once with the same generator."""
    train, test = [], []
    for c, name in enumerate(classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(math.floor(test_fraction * len(idx) + 0.5))
        if n_test < 1 or n_test > len(idx) - 1:
            side = "no test image" if n_test < 1 else "no training image"
            raise AadError(f"{spec}: test_fraction={test_fraction} leaves class {name!r} ({len(idx)} images) with "
                           f"{side}; each class needs at least one image on each side (at least 2 images, and "
                           "a test_fraction that rounds to between 1 and n - 1 per class).")
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return {"train": rng.permutation(np.concatenate(train)), "test": rng.permutation(np.concatenate(test))}


# ---------------------------------------------------------------- images one by one (PIL)

class _Images:
    """Collects images one at a time (each already converted and resized by :func:`_pil_array`) and
    stacks them into uint8 NCHW: grey when all are grey, else RGB; one square size."""

    def __init__(self, size: int, what: str):
        self.size, self.what = size, what
        self.arrays: list[np.ndarray] = []
        self.first = ""

    def add(self, array: np.ndarray, where: str) -> None:
        if not self.arrays:
            self.first = where
        elif array.shape[:2] != self.arrays[0].shape[:2]:
            (h0, w0), (h, w) = self.arrays[0].shape[:2], array.shape[:2]
            raise AadError(f"{self.what}: images have different sizes ({self.first} is {h0}x{w0}, {where} is "
                           f"{h}x{w}); {SIZE_HINT}.")
        self.arrays.append(array)

    def stack(self) -> np.ndarray:
        if not self.arrays:
            raise AadError(f"{self.what}: no images.")
        h, w = self.arrays[0].shape[:2]
        if h != w:
            raise AadError(f"{self.what}: images are {h}x{w} (height x width), not square; {SIZE_HINT}.")
        channels = 1 if all(a.ndim == 2 for a in self.arrays) else 3
        out = np.empty((len(self.arrays), channels, h, w), dtype=np.uint8)
        for i, a in enumerate(self.arrays):
            out[i] = a if a.ndim == 2 else a.transpose(2, 0, 1)
        return out


def _pil_array(img: Any, size: int, where: str) -> np.ndarray:
    """One PIL image as uint8 (H, W) if its mode is grey, else (H, W, 3); resized when ``size > 0``."""
    from PIL import Image

    mode = img.mode
    if mode == "F":
        raise AadError(f"{where}: 32-bit float images (mode 'F') are not supported; save it as 8-bit grey or RGB.")
    if mode in GREY_MODES and mode.startswith("I"):  # 16-bit grey: scale 0..65535 to 0..255
        values = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        img = Image.fromarray(np.floor(values / 257 + 0.5).astype(np.uint8))
    else:
        img = img.convert("L" if mode in GREY_MODES else "RGB")
    if size and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _read_image(path: Path, size: int) -> np.ndarray:
    """Decode one image file; any decoding failure names the file."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return _pil_array(img, size, str(path))
    except AadError:
        raise
    except Exception as err:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError...
        raise AadError(f"cannot read image {path}: {type(err).__name__}: {err}") from err


def _resize_array(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, C, H, W) images to size x size with Pillow's bilinear filter (a no-op when
    they already are)."""
    from PIL import Image

    if not size or images.shape[2:] == (size, size):
        return images
    out = np.empty((images.shape[0], images.shape[1], size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        hwc = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        resized = np.asarray(Image.fromarray(np.ascontiguousarray(hwc)).resize((size, size), Image.Resampling.BILINEAR))
        out[i] = resized if resized.ndim == 2 else resized.transpose(2, 0, 1)
    return out


def _check_square(images: np.ndarray, what: str) -> np.ndarray:
    h, w = images.shape[2:]
    if h != w:
        raise AadError(f"{what}: images are {h}x{w} (height x width), not square; {SIZE_HINT}.")
    return images


def _check_same_shape(splits: dict[str, Arrays], what: str) -> None:
    """Train and test must agree on channels and size."""
    (c0, h0, w0), (c1, h1, w1) = (splits[s][0].shape[1:] for s in ("train", "test"))
    if c0 != c1:
        kind = {1: "grey (1 channel)", 3: "colour (3 channels)"}
        raise AadError(f"{what}: the train images are {kind.get(c0, c0)} but the test images {kind.get(c1, c1)}; "
                       "convert one split so that both match.")
    if (h0, w0) != (h1, w1):
        raise AadError(f"{what}: the train images are {h0}x{w0} but the test images {h1}x{w1}; "
                       "pass size > 0 (data.size) to resize both to size x size.")


# ---------------------------------------------------------------- folder:

def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _class_folders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir() and _visible(p))


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
             and all(_visible(Path(part)) for part in p.relative_to(folder).parts)]
    if not files:
        raise AadError(f"class folder {folder} holds no images (files ending in {', '.join(IMAGE_EXTENSIONS)}).")
    return sorted(files)


def _read_class_tree(path: Path, size: int) -> tuple[Arrays, list[str]]:
    """An ImageFolder tree: one sub-folder per class, sorted names -> labels."""
    classes = _class_folders(path)
    if not classes:
        raise AadError(f"{path} holds no class folders: put the images of each class in a sub-folder named after "
                       f"it (e.g. {path / 'cat' / '001.png'}), or use train/ and test/ sub-folders that each hold "
                       "the class folders.")
    if len(classes) == 1:
        raise AadError(f"{path} holds one class folder ({classes[0]!r}); a classifier needs at least two classes.")
    images, labels = _Images(size, str(path)), []
    for label, name in enumerate(classes):
        for file in _image_files(path / name):
            images.add(_read_image(file, size), str(file))
            labels.append(label)
    return (images.stack(), np.asarray(labels, dtype=np.int64)), classes


def _load_folder(source: DataSource, size: int) -> tuple[dict[str, Arrays], list[str]]:
    path = source.path
    top = set(_class_folders(path))
    if not {"train", "test"} & top:
        arrays, classes = _read_class_tree(path, size)
        return {"all": arrays}, classes
    if not {"train", "test"} <= top:
        have, lack = ("train", "test") if "train" in top else ("test", "train")
        raise AadError(f"{path} has a {have}/ folder but no {lack}/ folder: use both train/ and test/ (each with "
                       "one folder per class), or one folder per class without them.")
    (train, classes), (test, test_classes) = (_read_class_tree(path / s, size) for s in ("train", "test"))
    if classes != test_classes:
        only_train = sorted(set(classes) - set(test_classes)) or ["-"]
        only_test = sorted(set(test_classes) - set(classes)) or ["-"]
        raise AadError(f"{path / 'train'} and {path / 'test'} hold different class folders (only in train/: "
                       f"{', '.join(only_train)}; only in test/: {', '.join(only_test)}); both need the same classes.")
    splits = {"train": train, "test": test}
    _check_same_shape(splits, str(path))
    return splits, classes


# ---------------------------------------------------------------- npz:

def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, read without pickles; a broken file names itself."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise AadError(f"cannot read {path} as an .npz archive: {type(err).__name__}: {err}") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise AadError(f"{path} holds a single array, not an .npz archive; save it with "
                       "np.savez(path, x=images, y=labels).")
    try:
        with archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise AadError(f"cannot read {path} as an .npz archive: {type(err).__name__}: {err}") from err


def _npz_images(x: np.ndarray, key: str, path: Path, size: int) -> np.ndarray:
    """``x`` checked and converted to uint8 (N, C, S, S)."""
    if x.ndim not in (3, 4):
        raise AadError(f"{path}: {key} must have shape (N, H, W) or (N, H, W, C), got {x.shape}.")
    if x.ndim == 4 and x.shape[3] not in (1, 3):
        hint = (f" (it looks channels-first: save {key}.transpose(0, 2, 3, 1))" if x.shape[1] in (1, 3)
                else "; 1 (grey) or 3 (colour) channels are supported")
        raise AadError(f"{path}: {key} has shape {x.shape}, whose last axis ({x.shape[3]}) is not the channels"
                       f"{hint}.")
    if x.shape[0] == 0:
        raise AadError(f"{path}: {key} holds no images (shape {x.shape}).")
    if x.dtype == np.uint8:
        pixels = x
    elif np.issubdtype(x.dtype, np.floating):
        if np.isnan(x).any():
            raise AadError(f"{path}: {key} contains NaN (first in image {int(np.argwhere(np.isnan(x))[0][0])}).")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise AadError(f"{path}: float {key} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                           "store uint8 0..255 or divide by 255.")
        pixels = np.floor(x.astype(np.float64) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise AadError(f"{path}: {key} must be uint8 (0..255) or float in [0, 1], got dtype {x.dtype}; convert it "
                       f"with {key}.astype(np.uint8) if it holds 0..255.")
    nchw = pixels[:, None] if pixels.ndim == 3 else pixels.transpose(0, 3, 1, 2)
    return _check_square(_resize_array(np.ascontiguousarray(nchw), size), f"{path}: {key}")


def _npz_labels(y: np.ndarray, key: str, n: int, x_key: str, path: Path) -> np.ndarray:
    """``y`` checked: an integer vector as long as ``x`` with labels >= 0."""
    if not (np.issubdtype(y.dtype, np.integer)):
        raise AadError(f"{path}: {key} must hold integer class indices 0..K-1, got dtype {y.dtype}; convert it "
                       f"with {key}.astype(np.int64) if its values are whole numbers.")
    if y.ndim != 1:
        raise AadError(f"{path}: {key} must be a vector of labels (N,), got shape {y.shape}.")
    if len(y) != n:
        raise AadError(f"{path}: {x_key} holds {n} images but {key} holds {len(y)} labels; they must match.")
    if y.min() < 0:
        raise AadError(f"{path}: {key} holds label {int(y.min())}; labels must be class indices 0..K-1.")
    return y.astype(np.int64)


def _load_npz(source: DataSource, size: int) -> tuple[dict[str, Arrays], list[str]]:
    path = source.path
    arrays = _read_npz(path)
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise AadError(f"{path} has no array {missing[0]!r} (arrays: {', '.join(sorted(arrays)) or 'none'}); save it "
                       "with np.savez(path, x=images, y=labels[, x_test=..., y_test=...]).")
    if ("x_test" in arrays) != ("y_test" in arrays):
        have, lack = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise AadError(f"{path} has {have} but no {lack}: give both, or neither (then test_fraction of each class "
                       "is held out).")
    keys = [("x", "y")] + ([("x_test", "y_test")] if "x_test" in arrays else [])
    splits: dict[str, Arrays] = {}
    for (x_key, y_key), split in zip(keys, ("train", "test")):
        images = _npz_images(arrays[x_key], x_key, path, size)
        splits[split] = (images, _npz_labels(arrays[y_key], y_key, len(images), x_key, path))
    y = splits["train"][1]
    k = int(y.max()) + 1
    absent = sorted(set(range(k)) - set(np.unique(y).tolist()))
    if k < 2:
        raise AadError(f"{path}: y holds one class (label {k - 1}); a classifier needs at least two classes.")
    if absent:
        raise AadError(f"{path}: labels must run 0..{k - 1} with every class present; y has no image of class "
                       f"{absent[0]}.")
    if "test" in splits:
        y_test = splits["test"][1]
        if y_test.max() >= k:
            raise AadError(f"{path}: y_test holds label {int(y_test.max())} but y has classes 0..{k - 1} only.")
        _check_same_shape(splits, str(path))
    else:
        splits = {"all": splits["train"]}
    return splits, [str(c) for c in range(k)]


# ---------------------------------------------------------------- torchvision:

def _torchvision_class(name: str) -> Callable[..., Any]:
    """The torchvision dataset class of a known classification dataset name, with did-you-mean."""
    if name not in TORCHVISION:
        folded = {n.casefold(): n for n in TORCHVISION}
        if name.casefold() in folded:
            raise AadError(f"unknown torchvision classification dataset {name!r}. Did you mean "
                           f"{folded[name.casefold()]!r}? Valid choices: {', '.join(sorted(TORCHVISION))}.")
        import torchvision.datasets as tvd

        if inspect.isclass(getattr(tvd, name, None)):
            raise AadError(f"torchvision dataset {name!r} is not a classification dataset with train/test images "
                           f"that this loader reads; valid choices: {', '.join(sorted(TORCHVISION))}. Other data: "
                           "save it as folder: or npz:.")
        choose(name, TORCHVISION, "torchvision classification dataset")
    import torchvision
    import torchvision.datasets as tvd

    cls = getattr(tvd, name, None)
    if cls is None:
        raise AadError(f"torchvision {torchvision.__version__} has no dataset {name!r}; it needs a newer torchvision.")
    return cls


def _construct(source: DataSource, folder: Path, kwargs: Mapping[str, Any], split: str, download: bool) -> Any:
    """Build the torchvision dataset, turning its errors into :class:`AadError` like :mod:`aad_lib.data`."""
    entry = TORCHVISION[source.target]
    if download and not entry.download:
        raise AadError(f"torchvision cannot download {source.target}: put its files under {folder}/ by hand and run "
                       "without --download.")
    cls = _torchvision_class(source.target)
    options = dict(kwargs, download=download) if entry.download else dict(kwargs)
    try:
        return cls(str(folder), **options)
    except ImportError as err:
        raise AadError(f"{source.spec} needs a package that torchvision reads it with: {err}. Install it "
                       "(e.g. `pip install scipy` for SVHN, `pip install h5py` for PCAM).") from err
    except (RuntimeError, OSError, EOFError) as err:
        reason = " ".join(str(err).split())  # torchvision's messages span lines
        if download:  # URLError, or torchvision's "Error downloading ..." after every mirror failed
            raise AadError(f"could not download {source.spec!r} into {folder}/ ({reason}). This machine may have no "
                           "network: copy the torchvision files there by hand and run without --download.") from err
        fetch = (f"Fetch it once with `aad data fetch {source.spec} --download` (needs network access)."
                 if entry.download else "torchvision cannot download it: put its files there by hand.")
        raise AadError(f"dataset {source.spec!r} ({split}) not found under {folder}/: {reason}. {fetch}") from err


def _fast_arrays(ds: Any, transpose: bool) -> Arrays | None:
    """``(images NCHW, labels)`` straight from ``.data`` and ``.targets``/``.labels`` when they are
    uint8 images (HW, HWC or CHW) and labels of the dataset's length; ``None`` otherwise."""
    data = getattr(ds, "data", None)
    labels = getattr(ds, "targets", getattr(ds, "labels", None))
    if isinstance(data, torch.Tensor):
        data = data.numpy()
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim not in (3, 4) or labels is None:
        return None
    labels = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim == 2:  # QMNIST: one row of metadata per image, the class first
        labels = labels[:, 0]
    if len(data) != len(ds) or labels.shape != (len(ds),) or not np.issubdtype(labels.dtype, np.integer):
        return None
    if data.ndim == 3:
        images = data[:, None]
    elif data.shape[3] in (1, 3) and data.shape[1] not in (1, 3):
        images = data.transpose(0, 3, 1, 2)
    elif data.shape[1] in (1, 3):
        images = data
    else:
        return None
    if transpose:
        images = images.transpose(0, 1, 3, 2)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _slow_arrays(ds: Any, size: int, what: str) -> Arrays:
    """``(images NCHW, labels)`` by iterating the dataset's ``(PIL image, class index)`` items."""
    from PIL import Image

    images, labels = _Images(size, what), []
    for i in range(len(ds)):
        img, target = ds[i]
        if isinstance(img, np.ndarray):
            img = Image.fromarray(img)
        if not isinstance(img, Image.Image):
            raise AadError(f"{what}: item {i} is a {type(img).__name__}, not a PIL image.")
        try:
            labels.append(int(target))
        except (TypeError, ValueError) as err:
            raise AadError(f"{what}: item {i} has target {target!r}, not a class index (no labels in this "
                           "split?).") from err
        images.add(_pil_array(img, size, f"{what} item {i}"), f"item {i}")
    return images.stack(), np.asarray(labels, dtype=np.int64)


def _class_names(ds: Any) -> list[str] | None:
    names = getattr(ds, "classes", None) or getattr(ds, "categories", None)
    if not isinstance(names, (list, tuple)) or not names:
        return None
    return [str(n[0]) if isinstance(n, (tuple, list)) and n else str(n) for n in names]


def _load_torchvision(source: DataSource, root: Path, size: int, download: bool) -> tuple[dict[str, Arrays], list[str]]:
    entry = TORCHVISION[source.target]
    folder = root / source.target
    wanted = {"train": entry.train, "test": entry.test} if entry.test is not None else {"all": entry.train}
    splits: dict[str, Arrays] = {}
    names: list[str] | None = None
    for split, kwargs in wanted.items():
        ds = _construct(source, folder, kwargs, split, download)
        what = f"{source.spec} ({split})"
        fast = _fast_arrays(ds, entry.transpose)
        images, labels = _slow_arrays(ds, size, what) if fast is None else (_resize_array(fast[0], size), fast[1])
        splits[split] = (_check_square(images, what), labels)
        names = names or _class_names(ds)
    labels = np.concatenate([y for _, y in splits.values()])
    if len(labels) and labels.min() < 0:
        raise AadError(f"{source.spec}: label {int(labels.min())} is not a class index (unlabelled images?).")
    k = len(names) if names else int(labels.max()) + 1
    if len(labels) and labels.max() >= k:
        raise AadError(f"{source.spec}: label {int(labels.max())} is out of range for its {k} classes.")
    if k < 2:
        raise AadError(f"{source.spec}: one class only; a classifier needs at least two classes.")
    if "train" in splits:
        _check_same_shape(splits, source.spec)
    return splits, names or [str(c) for c in range(k)]
