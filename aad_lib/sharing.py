"""Whether this clone can fetch the committed run's cached files (checkpoints, prepared data,
per-image records) from its DVC remote, with the command that fixes it when it cannot.

Git holds the small results (tables, figures, metrics, logs, the report site) and ``dvc.lock``; the
large ones are in DVC's cache and its remote, by default ``store``, a folder beside the clone
(``.dvc/config``). ``make pull`` runs ``aad remote`` (:func:`checked_remote`) before ``dvc pull``, so a
clone without a reachable store gets one sentence saying what to do instead of DVC's traceback.
"""
from __future__ import annotations

from pathlib import Path

from .validation import AadError

FIXES = ("point it at your team's store with `dvc remote modify --local store url PATH` (or s3://..., https://...), "
         "ask whoever ran the pipeline to `dvc push` there, or rebuild everything here with `make all`")


def default_remote(root: str | Path = ".") -> tuple[str, str]:
    """``(name, url)`` of the project's default DVC remote (``core.remote``), local paths made absolute;
    an error naming the fix when none is configured."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        config = repo.config
        name = config["core"].get("remote")
        if not name:
            raise AadError(f"no default DVC remote is configured in {Path(root).resolve()}: {FIXES}.")
        remote = config["remote"].get(name)
        if not remote or not remote.get("url"):
            raise AadError(f"the default DVC remote {name!r} has no url: {FIXES}.")
        return name, str(remote["url"])


def checked_remote(root: str | Path = ".") -> tuple[str, str]:
    """``(name, url)`` of the default remote once it is known that ``dvc pull`` may fetch from it; an
    error naming the fix when it cannot (no default remote, or a local one that does not exist or is
    empty). A cloud URL is taken on trust (DVC reports its own credential errors)."""
    name, url = default_remote(root)
    if "://" in url:
        return name, url
    folder = Path(url)
    if not folder.is_dir():
        raise AadError(f"the DVC remote {name!r} is the folder {folder}, which does not exist on this machine: {FIXES}.")
    if not any(folder.iterdir()):
        raise AadError(f"the DVC remote {name!r} ({folder}) is empty: nothing was pushed there yet; {FIXES}.")
    return name, url


def remote_problem(root: str | Path = ".") -> str | None:
    """Why ``dvc pull`` cannot fetch anything here (:func:`checked_remote`'s error), or None when it may."""
    try:
        checked_remote(root)
    except AadError as err:
        return str(err)
    return None
