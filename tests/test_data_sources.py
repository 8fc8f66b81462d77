"""Data sources named by parameter (aad_lib.data_sources): torchvision:, folder: and npz:, all offline on
data written here (the torchvision path reads FashionMNIST IDX files written by hand, and fake dataset
classes patched into torchvision.datasets for the other conventions)."""
from __future__ import annotations

import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aad_lib.data_sources import TORCHVISION, DataSource, Loaded, is_source, load_source
from aad_lib.validation import AadError


def load(spec: str, **options) -> Loaded:
    return load_source(DataSource.parse(spec), **options)


def write_folder(root: Path, classes=("dog", "cat", "bee", "ant"), per_class: int = 6, shape=(32, 32, 3),
                 fmt: str = "png", seed: int = 0) -> dict[bytes, str]:
    """``per_class`` random images per class folder; returns image bytes (HWC, or HW) -> class name."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            array = rng.integers(0, 256, shape, dtype=np.uint8)
            Image.fromarray(array).save(root / name / f"{i:03d}.{fmt}")
            written[array.tobytes()] = name
    return written


def as_written(ds, classes: list[str]) -> list[tuple[bytes, str]]:
    """Each image of a loaded dataset as the bytes it was written with (HWC or HW) and its class name."""
    out = []
    for image, label in zip(ds.images.numpy(), ds.labels.tolist()):
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        out.append((np.ascontiguousarray(array).tobytes(), classes[label]))
    return out


# ---------------------------------------------------------------- parse, check, is_source

def test_parse_and_is_source():
    assert DataSource.parse("torchvision:FashionMNIST") == DataSource("torchvision", "FashionMNIST")
    assert DataSource.parse(" Folder:data/my images ") == DataSource("folder", "data/my images")
    assert DataSource.parse("npz:C:/x.npz").target == "C:/x.npz"  # only the first colon splits
    assert DataSource.parse("npz:data/x.npz").spec == "npz:data/x.npz"
    assert is_source("torchvision:MNIST") and is_source("folder:x") and is_source("NPZ:x.npz")
    assert not is_source("mnist5k") and not is_source("folders:x") and not is_source(3)


@pytest.mark.parametrize("spec, message", [
    ("folders:x", r"unknown data source kind 'folders'\. Did you mean 'folder'\? "
                  r"Valid choices: folder, npz, torchvision"),
    ("FashionMNIST", r"has no kind: write 'kind:target' with kind one of torchvision, folder, npz"),
    ("npz:", r"data source npz: needs a target after the colon, e.g. npz:data/x.npz"),
])
def test_parse_errors(spec, message):
    with pytest.raises(AadError, match=message):
        DataSource.parse(spec)


@pytest.mark.parametrize("name, message", [
    ("FashionMNST", r"unknown torchvision classification dataset 'FashionMNST'\. Did you mean 'FashionMNIST'\?"),
    ("fashionmnist", r"Did you mean 'FashionMNIST'\?"),
    ("Nope", r"unknown torchvision classification dataset 'Nope'\. Valid choices: .*CIFAR10, .*FashionMNIST"),
    ("CocoDetection", r"torchvision dataset 'CocoDetection' is not a classification dataset"),
])
def test_check_names_the_known_torchvision_datasets(name, message):
    with pytest.raises(AadError, match=message):
        DataSource("torchvision", name).check()


def test_check_names_missing_paths(tmp_path):
    DataSource.parse(f"folder:{tmp_path}").check()
    with pytest.raises(AadError, match=rf"the folder {tmp_path / 'nope'} does not exist"):
        DataSource.parse(f"folder:{tmp_path / 'nope'}").check()
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(AadError, match=rf"the folder {tmp_path / 'x.npz'} is a file, not a folder"):
        DataSource.parse(f"folder:{tmp_path / 'x.npz'}").check()
    with pytest.raises(AadError, match=rf"the file {tmp_path / 'y.npz'} does not exist"):
        DataSource.parse(f"npz:{tmp_path / 'y.npz'}").check()
    with pytest.raises(AadError, match=r"is a folder, not a file"):
        DataSource.parse(f"npz:{tmp_path}").check()


@pytest.mark.parametrize("options, message", [
    ({"test_fraction": 0.0}, r"test_fraction must be a number in \(0, 1\), got 0\.0"),
    ({"test_fraction": 1}, r"test_fraction must be a number in \(0, 1\)"),
    ({"size": -1}, r"size must be an integer >= 0"),
    ({"split_seed": 1.5}, r"split_seed must be an integer >= 0"),
])
def test_load_options_are_checked(tmp_path, options, message):
    with pytest.raises(AadError, match=message):
        load(f"folder:{tmp_path}", **options)


# ---------------------------------------------------------------- folder:

def test_folder_of_colour_pngs(tmp_path):
    written = write_folder(tmp_path)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")  # skipped: not an image extension
    (tmp_path / "dog" / ".hidden.png").write_bytes(b"junk")  # skipped: hidden
    (tmp_path / ".ipynb_checkpoints").mkdir()  # skipped: hidden, not a class
    loaded = load(f"folder:{tmp_path}")
    assert loaded.classes == ["ant", "bee", "cat", "dog"]
    assert loaded.train.images.shape == (20, 3, 32, 32) and loaded.test.images.shape == (4, 3, 32, 32)
    assert loaded.train.images.dtype == torch.uint8 and loaded.train.labels.dtype == torch.int64
    assert (loaded.train.name, loaded.train.split, loaded.test.split) == (f"folder:{tmp_path}", "train", "test")
    seen = as_written(loaded.train, loaded.classes) + as_written(loaded.test, loaded.classes)
    assert sorted(seen) == sorted(written.items())  # every image once, with its folder's label
    assert torch.bincount(loaded.test.labels).tolist() == [1, 1, 1, 1]
    assert len(set(loaded.train.labels[:6].tolist())) > 1  # shuffled: a prefix mixes the classes


def test_folder_grey_and_other_formats(tmp_path):
    written = write_folder(tmp_path, classes=("a", "b"), per_class=5, shape=(8, 8), fmt="bmp")
    loaded = load(f"folder:{tmp_path}")
    assert loaded.train.images.shape[1:] == (1, 8, 8)
    assert sorted(as_written(loaded.train, loaded.classes) + as_written(loaded.test, loaded.classes)) \
        == sorted(written.items())
    # 16-bit grey and 1-bit images stay grey (16-bit scaled by 1/257); a palette image makes all RGB
    Image.fromarray(np.full((8, 8), 257 * 200, np.uint16)).save(tmp_path / "a" / "deep.png")
    Image.fromarray(np.ones((8, 8), bool)).save(tmp_path / "b" / "bits.png")
    loaded = load(f"folder:{tmp_path}")
    images = torch.cat([loaded.train.images, loaded.test.images])
    assert images.shape[1] == 1
    assert any(bool((im == 200).all()) for im in images) and any(bool((im == 255).all()) for im in images)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).convert("P").save(tmp_path / "a" / "palette.gif")
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(tmp_path / "b" / "alpha.webp")
    loaded = load(f"folder:{tmp_path}")
    assert loaded.train.images.shape[1] == 3
    grey_first = next(iter(written))  # a grey image is replicated into the three channels
    hits = [im for im in torch.cat([loaded.train.images, loaded.test.images]) if im[0].numpy().tobytes() == grey_first]
    assert len(hits) == 1 and torch.equal(hits[0][0], hits[0][1]) and torch.equal(hits[0][0], hits[0][2])


def test_folder_mixed_sizes_need_size(tmp_path):
    write_folder(tmp_path, classes=("a", "b"), per_class=3, shape=(16, 16, 3), fmt="jpg")
    big = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "b" / "zbig.tif")
    with pytest.raises(AadError, match=r"images have different sizes \(.*000\.jpg is 16x16, .*zbig\.tif is 40x40\); "
                                       r"pass size > 0 \(data\.size\) to resize every image to size x size"):
        load(f"folder:{tmp_path}")
    loaded = load(f"folder:{tmp_path}", size=12, test_fraction=0.3)
    assert loaded.train.images.shape[1:] == (3, 12, 12)
    expected = np.asarray(Image.fromarray(big).resize((12, 12), Image.Resampling.BILINEAR))
    images = torch.cat([loaded.train.images, loaded.test.images]).numpy().transpose(0, 2, 3, 1)
    assert any(np.array_equal(im, expected) for im in images)


def test_folder_non_square_needs_size(tmp_path):
    write_folder(tmp_path, classes=("a", "b"), per_class=3, shape=(8, 12, 3))
    with pytest.raises(AadError, match=r"images are 8x12 \(height x width\), not square; pass size > 0"):
        load(f"folder:{tmp_path}")
    assert load(f"folder:{tmp_path}", size=8, test_fraction=0.4).train.images.shape[1:] == (3, 8, 8)


def test_folder_train_and_test_trees(tmp_path):
    train = write_folder(tmp_path / "train", classes=("x", "y", "z"), per_class=4, seed=1)
    test = write_folder(tmp_path / "test", classes=("x", "y", "z"), per_class=2, seed=2)
    (tmp_path / "val").mkdir()  # other sub-folders of a split layout are ignored
    loaded = load(f"folder:{tmp_path}")
    assert loaded.classes == ["x", "y", "z"]
    assert sorted(as_written(loaded.train, loaded.classes)) == sorted(train.items())
    assert sorted(as_written(loaded.test, loaded.classes)) == sorted(test.items())
    assert loaded.train.labels.tolist() != sorted(loaded.train.labels.tolist())  # shuffled once
    again = load(f"folder:{tmp_path}")
    assert torch.equal(again.train.images, loaded.train.images) and torch.equal(again.test.labels, loaded.test.labels)


# ---------------------------------------------------------------- folder: bad data

def test_folder_bad_data(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "readme.png").write_bytes(b"")  # a file at the top is not a class
    with pytest.raises(AadError, match=rf"{root} holds no class folders: put the images of each class"):
        load(f"folder:{root}")
    write_folder(root, classes=("only",), per_class=3)
    with pytest.raises(AadError, match=rf"{root} holds one class folder \('only'\); a classifier needs at least two"):
        load(f"folder:{root}")
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("x")
    with pytest.raises(AadError, match=rf"class folder {root / 'empty'} holds no images \(files ending in \.png"):
        load(f"folder:{root}")
    write_folder(root, classes=("empty",), per_class=3)
    (root / "only" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(AadError, match=rf"cannot read image {root / 'only' / 'broken.png'}: UnidentifiedImageError"):
        load(f"folder:{root}")
    (root / "only" / "broken.png").write_bytes((root / "only" / "000.png").read_bytes()[:60])  # truncated
    with pytest.raises(AadError, match=r"cannot read image .*broken\.png: "):
        load(f"folder:{root}")
    (root / "only" / "broken.png").unlink()
    with pytest.raises(AadError, match=r"test_fraction=0\.1 leaves class 'empty' \(3 images\) with no test image"):
        load(f"folder:{root}", test_fraction=0.1)
    with pytest.raises(AadError, match=r"test_fraction=0\.9 leaves class 'empty' \(3 images\) with no training image"):
        load(f"folder:{root}", test_fraction=0.9)


def test_split_trees_must_agree(tmp_path):
    write_folder(tmp_path / "train", classes=("a", "b"), per_class=2)
    with pytest.raises(AadError, match=r"has a train/ folder but no test/ folder"):
        load(f"folder:{tmp_path}")
    write_folder(tmp_path / "test", classes=("a", "c"), per_class=2)
    with pytest.raises(AadError, match=r"hold different class folders \(only in train/: b; only in test/: c\)"):
        load(f"folder:{tmp_path}")
    (tmp_path / "test" / "c").rename(tmp_path / "test" / "b")
    for file in (tmp_path / "test").rglob("*.png"):
        Image.open(file).convert("L").save(file)
    with pytest.raises(AadError, match=r"the train images are colour \(3 channels\) but the test images grey \(1 channel\)"):
        load(f"folder:{tmp_path}")
    for file in (tmp_path / "test").rglob("*.png"):
        Image.open(file).convert("RGB").resize((16, 16)).save(file)
    with pytest.raises(AadError, match=r"the train images are 32x32 but the test images 16x16; pass size > 0"):
        load(f"folder:{tmp_path}")
    assert load(f"folder:{tmp_path}", size=16).test.images.shape == (4, 3, 16, 16)


# ---------------------------------------------------------------- npz:

def test_npz_uint8_and_float(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 6, 6), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "grey.npz", x=x, y=y)
    loaded = load(f"npz:{tmp_path / 'grey.npz'}")
    assert loaded.classes == ["0", "1", "2", "3"] and loaded.test.images.shape == (8, 1, 6, 6)
    assert sorted(as_written(loaded.train, loaded.classes) + as_written(loaded.test, loaded.classes)) \
        == sorted((im.tobytes(), str(label)) for im, label in zip(x, y))
    xf = rng.random((40, 6, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "float.npz", x=xf, y=y, x_test=xf[:5], y_test=y[:5])
    loaded = load(f"npz:{tmp_path / 'float.npz'}")
    expected = torch.from_numpy(np.round(xf.astype(np.float64) * 255).astype(np.uint8)).permute(0, 3, 1, 2)
    assert torch.equal(loaded.train.images, expected) and torch.equal(loaded.train.labels, torch.from_numpy(y))
    assert torch.equal(loaded.test.images, expected[:5])  # a stored test split keeps its order
    np.savez(tmp_path / "one.npz", x=x[..., None], y=y)
    assert load(f"npz:{tmp_path / 'one.npz'}", size=3).train.images.shape[1:] == (1, 3, 3)


def test_stratified_split(tmp_path):
    y = np.repeat([0, 1, 2], [10, 5, 20])
    x = np.random.default_rng(0).integers(0, 256, (35, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    spec = f"npz:{tmp_path / 'd.npz'}"
    a, b, c = load(spec), load(spec), load(spec, split_seed=1)
    assert torch.bincount(a.test.labels).tolist() == [2, 1, 4] and torch.bincount(a.train.labels).tolist() == [8, 4, 16]
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.test.labels, b.test.labels)
    assert not torch.equal(a.test.images, c.test.images)
    assert torch.bincount(c.test.labels).tolist() == [2, 1, 4]
    assert torch.bincount(load(spec, test_fraction=0.5).test.labels).tolist() == [5, 3, 10]  # round half up


def grey(n: int = 4, h: int = 2, w: int = 2, dtype=np.uint8) -> np.ndarray:
    return np.zeros((n, h, w), dtype)


PAIR = np.arange(4) % 2  # labels 0, 1, 0, 1


@pytest.mark.parametrize("arrays, message", [
    ({"x": grey()}, r"has no array 'y' \(arrays: x\); save it with np\.savez"),
    ({"x": grey(), "y": PAIR, "x_test": grey(2)}, r"has x_test but no y_test: give both, or neither"),
    ({"x": np.zeros((4, 2), np.uint8), "y": PAIR}, r"x must have shape \(N, H, W\) or \(N, H, W, C\), got \(4, 2\)"),
    ({"x": np.zeros((4, 3, 2, 2), np.uint8), "y": PAIR}, r"it looks channels-first: save x\.transpose\(0, 2, 3, 1\)"),
    ({"x": np.zeros((4, 2, 2, 5), np.uint8), "y": PAIR}, r"1 \(grey\) or 3 \(colour\) channels are supported"),
    ({"x": grey(0), "y": np.zeros(0, np.int64)}, r"x holds no images"),
    ({"x": grey(dtype=np.int64), "y": PAIR}, r"x must be uint8 \(0\.\.255\) or float in \[0, 1\], got dtype int64"),
    ({"x": grey(dtype=float) + np.nan, "y": PAIR}, r"x contains NaN \(first in image 0\)"),
    ({"x": grey(dtype=float) + 2, "y": PAIR}, r"float x must lie in \[0, 1\], got values in \[2, 2\]"),
    ({"x": grey(), "y": PAIR * 1.0}, r"y must hold integer class indices 0\.\.K-1, got dtype float64"),
    ({"x": grey(), "y": np.zeros((4, 1), np.int64)}, r"y must be a vector of labels \(N,\), got shape \(4, 1\)"),
    ({"x": grey(), "y": np.arange(3)}, r"x holds 4 images but y holds 3 labels; they must match"),
    ({"x": grey(), "y": np.array([0, 1, -1, 1])}, r"y holds label -1; labels must be class indices"),
    ({"x": grey(), "y": np.zeros(4, np.int64)}, r"y holds one class \(label 0\); a classifier needs"),
    ({"x": grey(), "y": np.array([0, 2, 0, 2])},
     r"labels must run 0\.\.2 with every class present; y has no image of class 1"),
    ({"x": grey(), "y": PAIR, "x_test": grey(2), "y_test": np.array([0, 2])},
     r"y_test holds label 2 but y has classes 0\.\.1 only"),
    ({"x": grey(), "y": PAIR, "x_test": np.zeros((2, 2, 2, 3), np.uint8), "y_test": PAIR[:2]},
     r"the train images are grey \(1 channel\) but the test images colour \(3 channels\)"),
    ({"x": grey(), "y": PAIR, "x_test": grey(2, 3, 3), "y_test": PAIR[:2]},
     r"the train images are 2x2 but the test images 3x3"),
    ({"x": grey(w=3), "y": PAIR}, r"x: images are 2x3 \(height x width\), not square"),
])
def test_npz_bad_data(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(AadError, match=message) as err:
        load(f"npz:{path}")
    assert str(err.value).startswith(str(path))  # the file is named first


def test_npz_unreadable_files(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(AadError, match=rf"cannot read {path} as an \.npz archive"):
        load(f"npz:{path}")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(AadError, match=r"single\.npy holds a single array, not an \.npz archive"):
        load(f"npz:{tmp_path / 'single.npy'}")
    np.savez(path, x=np.array([object()] * 4, dtype=object), y=np.arange(4))
    with pytest.raises(AadError, match=rf"cannot read {path} as an \.npz archive: ValueError"):
        load(f"npz:{path}")


# ---------------------------------------------------------------- torchvision:

def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """MNIST IDX files: big-endian magic 2051 (images, 3 dims) / 2049 (labels, 1 dim), sizes, then bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">iiii", 2051, n, h, w) + images.tobytes())
    labels_bytes = struct.pack(">ii", 2049, n) + labels.astype(np.uint8).tobytes()
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(labels_bytes)


def test_torchvision_fashion_mnist_from_local_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    x_train, y_train = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10
    x_test, y_test = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.array([3, 1, 4, 1, 5])
    raw = tmp_path / "FashionMNIST" / "FashionMNIST" / "raw"
    with pytest.raises(AadError, match=r"dataset 'torchvision:FashionMNIST' \(train\) not found under .*FashionMNIST/: "
                                       r".*Fetch it once with `aad data fetch torchvision:FashionMNIST --download`"):
        load("torchvision:FashionMNIST", root=tmp_path)
    write_idx(raw, "train", x_train, y_train)
    write_idx(raw, "t10k", x_test, y_test)
    loaded = load("torchvision:FashionMNIST", root=tmp_path)
    assert torch.equal(loaded.train.images, torch.from_numpy(x_train)[:, None])
    assert torch.equal(loaded.train.labels, torch.from_numpy(y_train))
    assert torch.equal(loaded.test.images, torch.from_numpy(x_test)[:, None])
    assert torch.equal(loaded.test.labels, torch.from_numpy(y_test))
    assert loaded.classes[:2] == ["T-shirt/top", "Trouser"] and len(loaded.classes) == 10
    assert loaded.train.name == "torchvision:FashionMNIST"
    small = load("torchvision:FashionMNIST", root=tmp_path, size=14)
    expected = np.asarray(Image.fromarray(x_test[2]).resize((14, 14), Image.Resampling.BILINEAR))
    assert small.test.images.shape == (5, 1, 14, 14) and np.array_equal(small.test.images[2, 0].numpy(), expected)


class FakeSplitDataset:
    """A torchvision-like dataset with the ``split=`` convention and CHW uint8 ``.data`` (as SVHN)."""

    calls: list[tuple] = []

    def __init__(self, root, split="train", transform=None, target_transform=None, download=False):
        FakeSplitDataset.calls.append((root, split, download))
        n = 9 if split == "train" else 3
        self.data = np.random.default_rng(split == "test").integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
        self.labels = np.arange(n) % 3

    def __len__(self):
        return len(self.data)


class FakePilDataset:
    """A dataset without ``.data``: ``(PIL image, label)`` items of two sizes and one set (as EuroSAT)."""

    classes = ["forest", "river"]

    def __init__(self, root, transform=None, target_transform=None, download=False):
        rng = np.random.default_rng(0)
        self.items = [(Image.fromarray(rng.integers(0, 256, (10 + i % 2, 10 + i % 2, 3), dtype=np.uint8)), i % 2)
                      for i in range(10)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_torchvision_split_convention_and_pil_items(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    FakeSplitDataset.calls.clear()
    monkeypatch.setattr(tvd, "SVHN", FakeSplitDataset)
    loaded = load("torchvision:SVHN", root=tmp_path)
    assert FakeSplitDataset.calls == [(str(tmp_path / "SVHN"), "train", False), (str(tmp_path / "SVHN"), "test", False)]
    assert torch.equal(loaded.train.images, torch.from_numpy(FakeSplitDataset(tmp_path, "train").data))
    assert loaded.test.labels.tolist() == [0, 1, 2] and loaded.classes == ["0", "1", "2"]

    monkeypatch.setattr(tvd, "EuroSAT", FakePilDataset)
    with pytest.raises(AadError, match=r"torchvision:EuroSAT \(all\): images have different sizes \(item 0 is 10x10, "
                                       r"item 1 is 11x11\); pass size > 0"):
        load("torchvision:EuroSAT", root=tmp_path)
    loaded = load("torchvision:EuroSAT", root=tmp_path, size=10)  # one set: split here, stratified
    assert loaded.classes == ["forest", "river"] and loaded.train.images.shape == (8, 3, 10, 10)
    assert torch.bincount(loaded.test.labels).tolist() == [1, 1]
    first = np.asarray(FakePilDataset(tmp_path)[0][0]).transpose(2, 0, 1)
    assert any(np.array_equal(im, first) for im in torch.cat([loaded.train.images, loaded.test.images]).numpy())


def test_torchvision_emnist_and_qmnist_conventions(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    seen = []

    class FakeEmnist:
        def __init__(self, root, split, **kwargs):
            seen.append((split, kwargs["train"]))
            self.data = torch.arange(2 * 16, dtype=torch.uint8).reshape(2, 4, 4)
            self.targets = torch.tensor([0, 1])
            self.classes = ["0", "1"]

        def __len__(self):
            return 2

    class FakeQmnist(FakeEmnist):
        def __init__(self, root, train=True, **kwargs):
            self.data = torch.zeros(4, 4, 4, dtype=torch.uint8)
            self.targets = torch.tensor([[1, 7, 7], [0, 7, 7], [1, 7, 7], [0, 7, 7]])

        def __len__(self):
            return 4

    monkeypatch.setattr(tvd, "EMNIST", FakeEmnist)
    monkeypatch.setattr(tvd, "QMNIST", FakeQmnist)
    loaded = load("torchvision:EMNIST", root=tmp_path)
    assert seen == [("balanced", True), ("balanced", False)]
    assert torch.equal(loaded.train.images[:, 0], FakeEmnist(tmp_path, "x", train=1).data.transpose(1, 2))  # upright
    assert load("torchvision:QMNIST", root=tmp_path).train.labels.tolist() == [1, 0, 1, 0]


def test_torchvision_errors(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
            if download:
                raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")

    class NeedsPackage:
        def __init__(self, root, split="train", transform=None, target_transform=None, download=False):
            raise ImportError("No module named 'h5py'")

    monkeypatch.setattr(tvd, "CIFAR10", Offline)
    monkeypatch.setattr(tvd, "PCAM", NeedsPackage)
    with pytest.raises(AadError, match=r"could not download 'torchvision:CIFAR10' into .*CIFAR10/ \(<urlopen error .*\)\. "
                                       r"This machine may have no network: copy the torchvision files there by hand"):
        load("torchvision:CIFAR10", root=tmp_path, download=True)
    with pytest.raises(AadError, match=r"not found under .*CIFAR10/: Dataset not found or corrupted.*"
                                       r"`aad data fetch torchvision:CIFAR10 --download`"):
        load("torchvision:CIFAR10", root=tmp_path)
    with pytest.raises(AadError, match=r"torchvision:PCAM needs a package that torchvision reads it with: "
                                       r"No module named 'h5py'"):
        load("torchvision:PCAM", root=tmp_path)
    with pytest.raises(AadError, match=r"torchvision cannot download ImageNet: put its files under .*ImageNet/ by hand"):
        load("torchvision:ImageNet", root=tmp_path, download=True)


def test_every_known_torchvision_dataset_exists_in_torchvision():
    import torchvision.datasets as tvd

    missing = [name for name in TORCHVISION if not hasattr(tvd, name)]
    assert not missing, missing


def test_aad_data_fetch_with_a_source(tmp_path, capsys):
    """`aad data fetch` knows the sources: a folder: or npz: dataset is read where it lies, and a
    torchvision: one offline without --download names the command that fetches it."""
    from aad_lib import cli

    assert cli.main(["data", "fetch", "folder:data/mine"]) == 2
    assert "is read where it lies: nothing to fetch" in capsys.readouterr().err
    assert cli.main(["data", "fetch", "torchvision:FashionMNIST", "--root", str(tmp_path)]) == 2
    assert "aad data fetch torchvision:FashionMNIST --download" in capsys.readouterr().err
    assert cli.main(["data", "fetch", "torchvision:FashionMNST", "--root", str(tmp_path)]) == 2
    assert "Did you mean 'FashionMNIST'" in capsys.readouterr().err
