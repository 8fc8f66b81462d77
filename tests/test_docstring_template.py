"""Every public callable of the modules below (the attacks, the defenses and the core modules: losses,
feature contribution, Grad-CAM and its metrics, evaluation, intervals, attack settings and columns, the
training loop) is documented with one template, in the style of torchattacks, and its examples run.

The template (sections in this order, each header alone on its line)::

    <One-line summary: what it computes, with the work and the equation/section it implements.>

    <Optional paragraphs: conventions, caveats, the full citation.>

    Arguments:
        name (type): meaning. Default: value.        (every parameter; "Default:" iff it has one)

    Shape:
        - x: (N, C, H, W), values in [0, 1].
        - y: (N,) int64 class indices.
        - returns: (N, C, H, W) in [0, 1].

    Examples:
        >>> a short example that runs in milliseconds (tiny tensors, a tiny inline model)

Which callables: those a module defines itself (functions and classes whose ``__module__`` is the
module) that are named in its ``__all__`` or whose names do not start with ``_``. Re-exported names,
constants and type aliases are not callables of the module. A class is documented once, in its class
docstring: its Arguments are the constructor's, its Shape is that of ``forward`` (or ``__call__``).

Shape rule: the Shape section is required when the callable touches tensors, i.e. when a resolved
type annotation of its signature (parameters or return; for a class, the constructor's, ``forward``'s
and ``__call__``'s) mentions ``torch.Tensor`` (aliases such as ``Objective`` count: they are resolved).
It may be omitted only for callables with no tensor anywhere in their signature (``kurakin_schedule``,
``model_mode``, ``eot_samples``, ...).

The examples run with :mod:`doctest` in an empty namespace (each imports what it uses, so a reader
can paste it), with the global torch RNG seeded and restored afterwards.
"""
from __future__ import annotations

import doctest
import importlib
import inspect
import re
import typing

import pytest
import torch

MODULES = (
    "aad_lib.attacks.pgd",
    "aad_lib.attacks.bim",
    "aad_lib.attacks.bpda",
    "aad_lib.attacks.deepfool",
    "aad_lib.attacks.step_ll",
    "aad_lib.attacks.objectives",
    "aad_lib.attacks.context",
    "aad_lib.defenses.transforms",
    "aad_lib.defenses.adaptive",
    "aad_lib.defenses.quality",
    "aad_lib.defenses.comdefend",
    "aad_lib.defenses.comdefend_loss",
    "aad_lib.losses",
    "aad_lib.contribution",
    "aad_lib.attention.gradcam",
    "aad_lib.attention.metrics",
    "aad_lib.evaluation",
    "aad_lib.eval_config",
    "aad_lib.intervals",
    "aad_lib.attacks.settings",
    "aad_lib.attacks.columns",
    "aad_lib.training.loop",
    "aad_lib.data_sources",
    "aad_lib.models.module_models",
)
SECTIONS = ("Arguments:", "Shape:", "Examples:")
# An argument entry: "name (type): ...", "*args (type): ..." or "**params (type): ...".
ENTRY = re.compile(r"^(\*{0,2})(\w+) \(.+?\): ")
# A source text cited by its number instead of by name (see tests/test_docs_stand_alone.py).
SEED_CITATION = re.compile(r"\bseeds?[ _-]?00\d\b", re.IGNORECASE)


def _public(module) -> list[tuple[str, object]]:
    # not API: private names, and the copies of every function that mutation testing (`make mutate`)
    # puts beside it (mutmut's x_<name>__mutmut_<n>, x_<name>__mutmut_orig)
    names = set(getattr(module, "__all__", ())) | {n for n in vars(module) if not n.startswith("_") and "__mutmut_" not in n}
    out = []
    for name in sorted(names):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(inspect.unwrap(obj))):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            out.append((name, obj))
    return out


CALLABLES = [(m, name) for m in MODULES for name, _ in _public(importlib.import_module(m))]


def _object(module_name: str, name: str) -> object:
    return getattr(importlib.import_module(module_name), name)


def _sections(doc: str) -> tuple[list[str], dict[str, list[str]]]:
    """The cleaned docstring's lines, and each section header's body lines (up to the next header)."""
    lines = inspect.cleandoc(doc).splitlines()
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line in SECTIONS:
            assert line not in sections, f"section {line} appears twice"
            current = sections.setdefault(line, [])
        elif current is not None:
            current.append(line)
    return lines, sections


def _entries(body: list[str]) -> dict[str, str]:
    """Argument name -> its entry text (the entry line and its deeper-indented continuation lines)."""
    entries: dict[str, str] = {}
    name = None
    for line in body:
        if not line.strip():
            name = None
            continue
        indent = len(line) - len(line.lstrip())
        match = ENTRY.match(line.strip())
        if match and indent == 4:
            name = match.group(2)
            entries[name] = line.strip()
        elif name is not None and indent > 4:
            entries[name] += " " + line.strip()
        else:
            raise AssertionError(f"not an argument entry 'name (type): meaning': {line!r}")
    return entries


def _mentions_tensor(obj: object) -> bool:
    """Whether a resolved annotation of the callable's signature mentions ``torch.Tensor``."""
    targets = [obj]
    if inspect.isclass(obj):
        targets = [obj.__init__] + [vars(obj)[m] for m in ("forward", "__call__") if m in vars(obj)]
    for target in targets:
        try:
            hints = typing.get_type_hints(target)
        except Exception:  # an annotation that cannot be evaluated: read it as written
            hints = dict(getattr(inspect.unwrap(target), "__annotations__", {}))
        if any("Tensor" in str(hint) for hint in hints.values()):
            return True
    return False


def test_the_modules_have_public_callables():
    assert len(CALLABLES) >= 80, CALLABLES
    names = {name for _, name in CALLABLES}
    assert {"pgd", "fgsm", "bim", "deepfool", "bpda", "model_mode", "webp_flip", "ComDefend", "psnr",
            "comdefend_loss", "adaptive"} <= names
    assert {"logit_pairing", "adaptive_logit_pairing", "trades_kl", "guided_logits", "gradcam", "completeness",
            "evaluate", "summarize", "EvalConfig", "wilson_interval", "AttackSettings", "Column", "TrainConfig",
            "train", "load_model", "epoch_models"} <= names


@pytest.mark.parametrize("module_name, name", CALLABLES, ids=[f"{m.rsplit('.', 1)[1]}.{n}" for m, n in CALLABLES])
def test_docstring_follows_the_template(module_name: str, name: str):
    obj = _object(module_name, name)
    doc = inspect.getdoc(obj) if not inspect.isclass(obj) else obj.__doc__
    assert doc and doc.strip(), f"{name} has no docstring"
    lines, sections = _sections(doc)
    assert lines[0].strip() and (len(lines) == 1 or not lines[1].strip()), \
        f"{name}: the summary must be one line followed by a blank line"
    assert not SEED_CITATION.search(doc), f"{name}: cite works by name, authors, venue and year"

    required = ["Arguments:", "Examples:"] + (["Shape:"] if _mentions_tensor(obj) else [])
    missing = [s for s in required if s not in sections]
    assert not missing, f"{name}: missing {missing}"
    order = [line for line in lines if line in SECTIONS]
    assert order == [s for s in SECTIONS if s in sections], f"{name}: sections out of order: {order}"
    assert order[-1] == "Examples:", f"{name}: Examples must be the last section"
    assert any(line.lstrip().startswith(">>> ") for line in sections["Examples:"]), f"{name}: no >>> example"
    if "Shape:" in sections:
        shape = [line for line in sections["Shape:"] if line.strip()]
        assert shape and all(line.startswith("    - ") or line.startswith("      ") for line in shape), \
            f"{name}: Shape entries are '- name: shape' lines"

    entries = _entries(sections["Arguments:"])
    params = {p.name: p for p in inspect.signature(obj).parameters.values() if p.name != "self"}
    assert set(entries) == set(params), \
        f"{name}: documented {sorted(entries)}, signature has {sorted(params)}"
    for pname, param in params.items():
        has_default = param.default is not inspect.Parameter.empty
        assert ("Default:" in entries[pname]) == has_default, \
            f"{name}: argument {pname!r} {'needs' if has_default else 'has no default, so no'} 'Default:'"


@pytest.mark.parametrize("module_name, name", CALLABLES, ids=[f"{m.rsplit('.', 1)[1]}.{n}" for m, n in CALLABLES])
def test_docstring_examples_run(module_name: str, name: str):
    obj = _object(module_name, name)
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = finder.find(obj, f"{module_name}.{name}", module=module, globs={})
    assert tests, f"{name} has no doctest examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    with torch.random.fork_rng(devices=[]):
        for test in tests:
            torch.manual_seed(0)
            runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
