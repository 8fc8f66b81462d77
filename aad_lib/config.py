"""params.yaml and profiles.

``profiles/default.yaml`` holds every knob; ``profiles/<name>.yaml`` for other profiles lists
only what differs (``extends: default``). ``params.yaml`` is the *active*, fully resolved profile
that DVC tracks key by key; ``aad profile use <name>`` rewrites it. The default profile is the
schema: a key it lacks is a typo (reported with a did-you-mean), a value of another type is an
error, before anything runs.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .files import atomic_write_text
from .validation import AadError, choose

if TYPE_CHECKING:
    from .params import Params

PROFILES_DIR = Path("profiles")
PARAMS = Path("params.yaml")
HEADER = ("# The active profile, resolved. Written by `aad profile use {name}` from profiles/{name}.yaml;\n"
          "# DVC tracks these keys one by one. Edit here for a one-off run, in profiles/ to keep it.\n")
# Keys whose value is a free-form mapping (a method's options), not checked against the default.
FREE_FORM = {("methods",)}
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively by ``over`` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def profile_names(root: str | Path = ".") -> list[str]:
    return sorted(p.stem for p in (Path(root) / PROFILES_DIR).glob("*.yaml"))


def resolve_profile(name: str, root: str | Path = ".") -> dict[str, Any]:
    """The full parameter set of profile ``name`` (following ``extends``), validated."""
    root = Path(root)
    choose(name, profile_names(root), "profile")
    raw = _read_yaml(root / PROFILES_DIR / f"{name}.yaml")
    parent = raw.pop("extends", None)
    if parent is None:
        params = raw
    else:
        if parent == name:
            raise AadError(f"profile {name!r} extends itself.")
        params = deep_merge(resolve_profile(parent, root), raw)
    params["profile"] = name
    if name != "default":
        validate(params, resolve_profile("default", root))
    return params


def use_profile(name: str, root: str | Path = ".") -> Path:
    """Write profile ``name``, resolved, to ``params.yaml`` (atomically)."""
    params = resolve_profile(name, root)
    text = HEADER.format(name=name) + yaml.safe_dump(params, sort_keys=False, default_flow_style=None, width=100)
    return atomic_write_text(Path(root) / PARAMS, text)


def load(path: str | Path = PARAMS, overrides: list[str] | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """Read ``params.yaml``, apply ``key.sub=value`` overrides (values parsed as YAML) and check
    every key and type against the default profile."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    params = _read_yaml(path)
    for item in overrides or []:
        params = apply_override(params, item)
    validate(params, resolve_profile("default", root))
    return params


def load_params(path: str | Path = PARAMS, overrides: list[str] | None = None, root: str | Path | None = None) -> Params:
    """:func:`load`, parsed into the typed :class:`~aad_lib.params.Params` and checked against the
    registries (:func:`aad_lib.pipeline.check_params`): the one boundary every entry point crosses."""
    from .params import parse
    from .pipeline import check_params

    params = parse(load(path, overrides, root))
    check_params(params)
    return params


def apply_override(params: dict[str, Any], item: str) -> dict[str, Any]:
    """``"train.epochs=3"`` -> params with that key set (the value is parsed as YAML)."""
    if "=" not in item:
        raise AadError(f"override {item!r} must look like key.subkey=value, e.g. train.epochs=3.")
    dotted, raw = item.split("=", 1)
    keys = dotted.strip().split(".")
    value = yaml.safe_load(raw)
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value):  # YAML 1.1 reads "1e-4" as a string
        value = float(value)
    out = copy.deepcopy(params)
    node = out
    for depth, key in enumerate(keys[:-1]):
        if not isinstance(node.get(key), dict):
            where = ".".join(keys[: depth + 1])
            raise AadError(f"override {item!r}: {where!r} is not a section of params.yaml.")
        node = node[key]
    node[keys[-1]] = value
    return out


def validate(params: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()) -> None:
    """Every key of ``params`` must exist in ``schema`` with a value of the same type."""
    if path in FREE_FORM:
        return
    for key, value in params.items():
        where = ".".join(path + (key,))
        if key not in schema:
            if not path and key == "profile":
                continue
            choose(key, schema.keys(), f"key at {'.'.join(path) or 'top level'} of params ({where})")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise AadError(f"params {where} must be a section (mapping), got {value!r}.")
            validate(value, expected, path + (key,))
        elif not _same_type(value, expected):
            raise AadError(f"params {where} must be {_type_name(expected)} like {expected!r}, got {value!r}.")


def _same_type(value: Any, expected: Any) -> bool:
    if expected is None or value is None:
        return True
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(expected, bool)
    if isinstance(expected, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(expected, float) or isinstance(value, int))
    return isinstance(value, type(expected))


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            list: "a list"}.get(type(value), type(value).__name__)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise AadError(f"{path} not found; run from the project root or pass --params.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise AadError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise AadError(f"{path} must hold a mapping of sections, got {type(data).__name__}.")
    return data
