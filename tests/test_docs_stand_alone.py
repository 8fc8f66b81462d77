"""The repository's prose stands alone: no docstring, comment, notebook cell, README line or profile
comment cites the project's private source texts ("seed 002") or a path outside the repository
(``../shared/research/...``); readers have neither. Cite a work by its name and reference instead."""
import re
from pathlib import Path

from .conftest import ROOT

# The text files a reader gets: the library, the notebooks, the README and the parameter files.
GLOBS = ("aad_lib/**/*.py", "notebooks/*.ipynb", "README.md", "docs/**/*.md", "params.yaml", "profiles/*.yaml")

# "seed 002", "Seeds 001 and 002", "seed-001", "seed_004": a source text by its number. A random seed
# is written "seed 0", "seed0", "seeds [0, 1, 2]", never with three digits starting 00.
SEED_CITATION = re.compile(r"\bseeds?[ _-]?00\d\b", re.IGNORECASE)
# Places that exist only on the machine the project was written on.
PRIVATE_PATH = re.compile(r"/work/|\bshared/(?:seeds|research)\b|\bseeds/\d{3}_")
# A run of "../" followed by a name: a relative path, checked against the repository root below.
RELATIVE_PATH = re.compile(r"(?:\.\./)+[\w.\-]*")


def _files() -> list[Path]:
    files = sorted({p for g in GLOBS for p in ROOT.glob(g) if p.is_file() and ".venv" not in p.parts})
    assert files, f"no files matched {GLOBS} under {ROOT}"
    return files


def _leaves_repository(path: Path, relative: str) -> bool:
    """Whether ``relative``, read from the directory of ``path`` (where a notebook runs), points
    outside the repository root."""
    target = (path.parent / relative).resolve()
    return not target.is_relative_to(ROOT.resolve())


def _findings(path: Path) -> list[str]:
    out = []
    rel = path.relative_to(ROOT)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        hits = [m.group(0) for m in SEED_CITATION.finditer(line)]
        hits += [m.group(0) for m in PRIVATE_PATH.finditer(line)]
        hits += [m.group(0) for m in RELATIVE_PATH.finditer(line) if _leaves_repository(path, m.group(0))]
        if hits:
            out.append(f"{rel}:{number}: {', '.join(repr(h) for h in hits)}: {line.strip()[:120]}")
    return out


def test_no_seed_citations_or_paths_outside_the_repository() -> None:
    findings = [f for path in _files() for f in _findings(path)]
    assert not findings, ("cite the work by name and reference, and keep paths inside the repository:\n"
                          + "\n".join(findings))


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    assert SEED_CITATION.search("the residual variants of seed 002")
    assert SEED_CITATION.search("Seeds 001 (Yin et al.) and 002")
    assert SEED_CITATION.search("the seed-001 pipeline")
    assert not SEED_CITATION.search("seed 0, seeds [0, 1, 2], models/madry/seed0, eval seed 1")
    assert PRIVATE_PATH.search("see `shared/research/aalp.md`")
    assert PRIVATE_PATH.search("/work/shared/seeds/004_eab96d2461416be0.txt")
    notebook = ROOT / "notebooks" / "x.ipynb"
    assert _leaves_repository(notebook, "../../shared/research/aalp.md")
    assert _leaves_repository(ROOT / "README.md", "../shared/")
    assert not _leaves_repository(notebook, "../reports/tables")


def test_the_method_notes_the_notebooks_link_exist() -> None:
    """Every ``docs/...`` link in a notebook resolves (from notebooks/, where it is opened), and every
    notebook links its section's method note."""
    link = re.compile(r"\]\((\.\./docs/[^)]+)\)")
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        targets = link.findall(notebook.read_text(encoding="utf-8"))
        assert targets, f"{notebook.name} links no method note under docs/methods/"
        for target in targets:
            assert (notebook.parent / target).resolve().is_file(), f"{notebook.name} links {target}, which does not exist"
