"""The architecture as a rule the tree must keep: a core that knows no paper section, sections that
know the core but not each other, and the command line above both. Read from the source (every import, also those inside
functions), so a lazy import cannot hide a dependency."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import ROOT

PACKAGE = ROOT / "aad_lib"
SECTIONS = sorted(p.name for p in (PACKAGE / "sections").iterdir() if (p / "__init__.py").exists())


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, package: str) -> set[str]:
    """Every ``aad_lib`` module the code ``source`` of a module in ``package`` imports, at any depth
    (also inside functions), relative imports resolved."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("aad_lib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                target = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("aad_lib"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def imported_modules(path: Path) -> set[str]:
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    return imports_of(path.read_text(), package)


def section_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "sections" else None


SOURCES = sorted(PACKAGE.rglob("*.py"))
# The command line sits above both layers: each command imports (lazily) what it runs, a section's
# entry point included (`aad train-purifier` runs sections.compression.purifiers).
ENTRY_POINTS = {"aad_lib.cli"}


def test_the_sections_are_the_three_papers_sections():
    assert SECTIONS == ["aalp", "arp", "compression"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_a_section_and_no_section_imports_another(path):
    own = section_of(module_name(path))
    if module_name(path) in ENTRY_POINTS:
        return
    for target in sorted(imported_modules(path)):
        other = section_of(target)
        if other is None:
            continue
        assert own is not None, f"core module {module_name(path)} imports section module {target}"
        assert other == own, f"section {own!r} ({module_name(path)}) imports section {other!r} ({target})"


def test_the_rule_is_read_from_lazy_imports_too():
    """The reader sees an import inside a function (where the lazy ones live) and resolves it."""
    source = "import torch\n\ndef f():\n    from ..arp import study\n    from ... import tables\n"
    found = imports_of(source, "aad_lib.sections.aalp")
    assert {"aad_lib.sections.arp", "aad_lib.sections.arp.study", "aad_lib", "aad_lib.tables"} == found
    assert section_of("aad_lib.sections.arp.study") == "arp" and section_of("aad_lib.tables") is None
