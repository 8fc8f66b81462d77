import hashlib
import subprocess

import numpy as np
import pytest
import torch

from aad_lib import data
from aad_lib.validation import AadError

from .conftest import ROOT


def test_mnist5k_split_is_stratified_disjoint_and_fixed(tmp_path):
    data.fetch("mnist5k", tmp_path)
    train, test = data.load("mnist5k", tmp_path, "train"), data.load("mnist5k", tmp_path, "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    labels = np.load(tmp_path / "mnist5k" / "labels.npy")
    idx = data.mnist5k_split_indices(labels)
    assert not set(idx["train"]) & set(idx["test"])
    assert np.array_equal(idx["test"], data.mnist5k_split_indices(labels)["test"])
    assert len(set(test.labels[:20].tolist())) >= 5, "a prefix of the split mixes the classes"
    x, y = test[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert isinstance(y, int)


def test_fetch_is_byte_identical_to_data_dvc(tmp_path):
    """A fresh clone regenerates data/ offline with exactly the bytes data.dvc records."""
    data.fetch("mnist5k", tmp_path)
    again = tmp_path / "again"
    data.fetch("mnist5k", again)
    for name in ("images.npy", "labels.npy"):
        a = (tmp_path / "mnist5k" / name).read_bytes()
        assert a == (again / "mnist5k" / name).read_bytes()
    # DVC's directory hash: md5 of the JSON list of {relpath, md5} entries.
    import json
    entries = [{"md5": hashlib.md5((tmp_path / "mnist5k" / n).read_bytes()).hexdigest(), "relpath": f"mnist5k/{n}"}
               for n in sorted(("images.npy", "labels.npy"))]
    dir_md5 = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest()
    recorded = (ROOT / "data.dvc").read_text()
    assert f"md5: {dir_md5}.dir" in recorded


def test_fake_dataset_any_shape():
    ds = data.load("fake", split="test", n=7, shape=(3, 9, 5), num_classes=4)
    x, y = ds.tensors()
    assert x.shape == (7, 3, 9, 5) and 0 <= x.min() and x.max() <= 1 and y.max() < 4


def test_unknown_dataset_names_the_choices():
    with pytest.raises(AadError, match="Did you mean 'mnist5k'.*Valid choices: cifar10, fake, mnist, mnist5k, svhn"):
        data.load("mnist5", split="train")


def test_missing_bundled_files_name_the_fetch_command(tmp_path):
    with pytest.raises(AadError, match="aad data fetch mnist5k"):
        data.load("mnist5k", tmp_path, "train")


@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn"])
def test_missing_torchvision_dataset_names_the_download_flag(tmp_path, name):
    with pytest.raises(AadError, match=f"aad data fetch {name} --download"):
        data.load(name, tmp_path, "test")


def test_cli_bad_dataset_exits_cleanly(tmp_path):
    out = subprocess.run(["aad", "data", "fetch", "cifar100", "--root", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown dataset to fetch 'cifar100'" in out.stderr and "Traceback" not in out.stderr
