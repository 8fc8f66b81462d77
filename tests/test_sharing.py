"""`make pull`'s check (aad_lib.sharing): a clone that cannot fetch the committed run from its DVC
remote is told why and what fixes it, before DVC tries."""
from __future__ import annotations

from pathlib import Path

import pytest
from dvc.repo import Repo

from aad_lib.sharing import FIXES, checked_remote, default_remote, remote_problem
from aad_lib.validation import AadError

ROOT = Path(__file__).resolve().parents[1]


def _project(tmp_path: Path, remote: str | None) -> Path:
    root = tmp_path / "clone"
    root.mkdir(parents=True)
    Repo.init(str(root), no_scm=True).close()
    if remote is not None:
        config = root / ".dvc" / "config"
        config.write_text(f"[core]\n    no_scm = True\n    remote = store\n['remote \"store\"']\n    url = {remote}\n")
    return root


def test_no_default_remote_names_the_fix(tmp_path: Path) -> None:
    root = _project(tmp_path, None)
    with pytest.raises(AadError, match="no default DVC remote"):
        default_remote(root)
    assert remote_problem(root).endswith(FIXES + ".")


def test_a_missing_local_store_is_named_with_its_absolute_path(tmp_path: Path) -> None:
    root = _project(tmp_path, "../../aad-dvc-store")  # as in the project's .dvc/config: beside the clone
    problem = remote_problem(root)
    assert f"the folder {tmp_path / 'aad-dvc-store'}, which does not exist" in problem
    assert "dvc remote modify --local store url" in problem and "make all" in problem


def test_an_empty_store_says_nothing_was_pushed(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    assert "is empty: nothing was pushed there yet" in remote_problem(_project(tmp_path, str(tmp_path / "store")))


def test_a_store_with_files_or_a_cloud_url_passes(tmp_path: Path) -> None:
    (tmp_path / "store" / "files").mkdir(parents=True)
    assert remote_problem(_project(tmp_path, str(tmp_path / "store"))) is None
    assert remote_problem(_project(tmp_path / "s3", "s3://bucket/aad")) is None
    assert checked_remote(tmp_path / "clone") == ("store", str(tmp_path / "store"))
    assert checked_remote(tmp_path / "s3" / "clone") == ("store", "s3://bucket/aad")


def test_the_project_names_a_default_remote_beside_the_clone() -> None:
    name, url = default_remote(ROOT)
    assert name == "store" and Path(url) == ROOT.parent / "aad-dvc-store"


def test_aad_remote_fails_with_the_reason_and_passes_with_a_store(tmp_path: Path, monkeypatch, capsys) -> None:
    from aad_lib import cli

    monkeypatch.chdir(_project(tmp_path / "a", "../../missing-store"))
    assert cli.main(["remote"]) == 2
    assert "which does not exist on this machine" in capsys.readouterr().err
    (tmp_path / "store" / "files").mkdir(parents=True)
    monkeypatch.chdir(_project(tmp_path / "b", str(tmp_path / "store")))
    assert cli.main(["remote"]) == 0
    assert capsys.readouterr().out == f"store: {tmp_path / 'store'}\n"
