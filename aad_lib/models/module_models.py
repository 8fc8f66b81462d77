"""Models named by parameter: ``module:<python.path>:<callable>``, a user's own ``nn.Module`` factory.

The factory (a function or a class) lives in an importable module (a folder on ``PYTHONPATH``, or an
installed package) and returns an ``nn.Module`` that takes images in [0, 1] and returns logits: the
normalisation is inside the user's model (the registry's ``mean``/``std`` do not apply to it). It is
called with the keyword arguments among ``num_classes``, ``in_channels`` and ``size`` that its
signature names (all three when it takes ``**kwargs``), so ``def make(num_classes): ...`` works.

:func:`check_model` makes one forward pass of a (2, C, H, W) batch before any training, so a model
that does not fit the dataset fails at once with an error that names it, the input shape and what
came back, not deep inside the first epoch.

What the project needs beyond logits (:func:`capabilities`, :func:`require`):

- ``penultimate``: the Guided Dropout recipes (``alp+gd``, ``aalp``, ``standard+gd``, ``madry+gd``)
  and the contribution analysis (:mod:`aad_lib.contribution`) need ``model.penultimate(x)``, the
  (N, D) features before the logits, and ``model.head``, the layer from them to the logits
  (``head(penultimate(x)) == model(x)``).
- ``cam_layer``: Grad-CAM (:mod:`aad_lib.attention.gradcam`, the ARP recipes and study) needs
  ``model.cam_layer``, the dotted name of a convolutional block of the model (or an explicit
  ``layer=``).

A subclass of :class:`~aad_lib.models.base.ImageClassifier` has both; a plain ``nn.Sequential`` has
neither and still serves every logits-only recipe, attack and evaluation.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..validation import AadError, check_count, choose

PREFIX = "module:"
FORM = "module:<python.path>:<callable>"
KEYWORDS = ("num_classes", "in_channels", "size")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")

# What each capability is for and how a model provides it (the text of :func:`require`'s errors).
NEEDS: dict[str, str] = {
    "penultimate": ("model.penultimate(x) (the (N, D) features before the logits) and model.head (the layer "
                    "from them to the logits, head(penultimate(x)) == model(x)); add both to the model, or "
                    "subclass aad_lib.models.ImageClassifier"),
    "cam_layer": ("model.cam_layer, the dotted name of a convolutional block of the model where Grad-CAM "
                  "reads its activations"),
}


def is_module_name(name: str) -> bool:
    """Whether ``name`` names a model by parameter (starts with ``module:``).

    Arguments:
        name (str): a model name.

    Examples:
        >>> from aad_lib.models.module_models import is_module_name
        >>> is_module_name("module:my_nets:make"), is_module_name("lenet")
        (True, False)
    """
    return isinstance(name, str) and name.startswith(PREFIX)


def parse(name: str) -> tuple[str, str]:
    """Split ``module:<python.path>:<callable>`` into the module's dotted path and the callable's name.

    Only the form is checked here (:func:`resolve` imports); a name of another form is an error
    that shows the expected one.

    Arguments:
        name (str): e.g. ``"module:my_pkg.nets:make_net"``.

    Examples:
        >>> from aad_lib.models.module_models import parse
        >>> parse("module:my_pkg.nets:make_net")
        ('my_pkg.nets', 'make_net')
    """
    parts = name[len(PREFIX):].split(":") if is_module_name(name) else []
    if len(parts) != 2 or not _DOTTED.match(parts[0].strip()) or not _IDENTIFIER.match(parts[1].strip()):
        raise AadError(f"model name {name!r} is not of the form {FORM!r}, e.g. 'module:my_pkg.nets:make_net' "
                       "(a function or class of an importable module that returns an nn.Module).")
    return parts[0].strip(), parts[1].strip()


def resolve(name: str) -> Callable[..., Any]:
    """The factory that ``module:<python.path>:<callable>`` names: the module imported, the callable looked up.

    A module that cannot be found, one whose import fails, a missing name (with a did-you-mean
    hint over the module's public callables) and a name that is not callable are errors that say
    which.

    Arguments:
        name (str): ``module:<python.path>:<callable>``.

    Examples:
        >>> from aad_lib.models.module_models import resolve
        >>> resolve("module:aad_lib.models.lenet:LeNet").__name__
        'LeNet'
    """
    path, attr = parse(name)
    module = _import(name, path)
    if not hasattr(module, attr):
        public = sorted(n for n, v in vars(module).items()
                        if not n.startswith("_") and callable(v) and not inspect.ismodule(v))
        if not public:
            raise AadError(f"{name}: module {path!r} has no attribute {attr!r}, and no public callables at all "
                           f"(its file: {getattr(module, '__file__', '?')}).")
        try:
            choose(attr, public, "callable")
        except AadError as err:  # keep choose's did-you-mean and list, after a first part that names the module
            hint = str(err).split(f"{attr!r}.", 1)[-1].strip().replace("Valid choices:", "Its public callables:")
            raise AadError(f"{name}: module {path!r} has no attribute {attr!r}. {hint}") from None
    factory = getattr(module, attr)
    if not callable(factory):
        raise AadError(f"{name}: {path}.{attr} is not callable (type {type(factory).__name__}); name a function or "
                       "class that returns the model (an nn.Module).")
    return factory


def _import(name: str, path: str) -> Any:
    """``importlib.import_module(path)`` with the errors a user can act on."""
    if path not in sys.modules:
        importlib.invalidate_caches()  # a module written since the last import (a notebook cell) is found
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name and (path == err.name or path.startswith(err.name + ".")):
            raise AadError(f"{name}: cannot import module {path!r} ({err}); the module must be importable: "
                           "its folder on PYTHONPATH (sys.path) or the package installed in this environment "
                           f"({sys.executable}).") from err
        raise AadError(f"{name}: importing module {path!r} raised ModuleNotFoundError: {err} "
                       "(a module it imports is missing).") from err
    except Exception as err:  # SyntaxError, ImportError, anything its top level raises
        raise AadError(f"{name}: importing module {path!r} raised {type(err).__name__}: {err}") from err


def factory_kwargs(factory: Callable[..., Any], num_classes: int, in_channels: int, size: int,
                   name: str = "the factory") -> dict[str, int]:
    """The keyword arguments among ``num_classes``, ``in_channels``, ``size`` that ``factory``'s signature accepts.

    A factory with ``**kwargs`` gets all three, one whose signature cannot be read as well. A
    parameter without a default that is none of the three is an error: the registry cannot
    supply it.

    Arguments:
        factory (Callable[..., Any]): the function or class.
        num_classes (int): number of classes.
        in_channels (int): image channels.
        size (int): image height and width.
        name (str): how errors name the factory. Default: ``"the factory"``.

    Examples:
        >>> from aad_lib.models.module_models import factory_kwargs
        >>> def make(num_classes, depth=2):
        ...     ...
        >>> factory_kwargs(make, num_classes=10, in_channels=3, size=32)
        {'num_classes': 10}
    """
    offered = {"num_classes": num_classes, "in_channels": in_channels, "size": size}
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # a builtin or extension type without a readable signature
        return offered
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return offered
    by_keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    chosen = {k: v for k, v in offered.items() if k in by_keyword}
    missing = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name not in chosen]
    if missing:
        raise AadError(f"{name} requires {', '.join(map(repr, missing))}, which the registry cannot give: it passes "
                       f"only {', '.join(KEYWORDS)} (those the signature names); give the other parameters defaults "
                       "(or wrap the factory in a function that sets them).")
    return chosen


def create_module_model(name: str, num_classes: int = 10, in_channels: int = 1, size: int = 28) -> nn.Module:
    """Build the user model ``module:<python.path>:<callable>`` for ``in_channels`` x ``size`` x ``size`` images.

    The factory gets the keyword arguments among ``num_classes``, ``in_channels``, ``size`` that
    its signature accepts (:func:`factory_kwargs`); what it returns must be an ``nn.Module``. An
    exception of the factory is an error naming the call. The model is not run here
    (:func:`check_model` does that; ``aad_lib.models.create`` calls both).

    Arguments:
        name (str): ``module:<python.path>:<callable>``.
        num_classes (int): number of classes, >= 2. Default: 10.
        in_channels (int): image channels, >= 1. Default: 1.
        size (int): image height and width, >= 1. Default: 28.

    Examples:
        >>> from aad_lib.models.module_models import create_module_model
        >>> model = create_module_model("module:aad_lib.models.lenet:LeNet", num_classes=5, in_channels=1, size=8)
        >>> type(model).__name__, model.head.out_features
        ('LeNet', 5)
    """
    check_count(num_classes, "num_classes", 2)
    check_count(in_channels, "in_channels", 1)
    check_count(size, "size", 1)
    factory = resolve(name)
    kwargs = factory_kwargs(factory, num_classes, in_channels, size, name=name)
    call = f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"
    try:
        model = factory(**kwargs)
    except Exception as err:
        raise AadError(f"{call} raised {type(err).__name__}: {err}") from err
    if not isinstance(model, nn.Module):
        raise AadError(f"{call} returned {type(model).__name__}, not a torch.nn.Module; the factory must return "
                       "the model (an nn.Module taking images in [0, 1] and returning logits).")
    return model


def check_model(model: nn.Module, in_channels: int, size: int, num_classes: int, *, name: str | None = None) -> None:
    """Check that ``model`` maps (N, ``in_channels``, ``size``, ``size``) images to (N, ``num_classes``) finite logits.

    One forward pass of a (2, C, H, W) batch of 0.5s, in eval mode and without gradients, on the
    model's device; every submodule's mode is restored afterwards and no parameter gradient is
    written. A forward that raises, an output that is not a tensor, of another shape, not
    floating or not finite is an error that names the model, the input shape and what came back.

    Arguments:
        model (nn.Module): the classifier (images in [0, 1], normalisation inside).
        in_channels (int): the dataset's channels, >= 1.
        size (int): the dataset's image height and width, >= 1.
        num_classes (int): the dataset's classes, >= 2.
        name (str | None): how errors name the model; None: its class name. Default: None.

    Shape:
        - the probe: (2, in_channels, size, size), every value 0.5, on the model's device.
        - the model's output: (2, num_classes) finite floating logits.

    Examples:
        >>> import torch
        >>> from aad_lib.models.module_models import check_model
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10))
        >>> check_model(model, in_channels=3, size=4, num_classes=10)  # fits: no error
        >>> try:
        ...     check_model(model, in_channels=3, size=4, num_classes=7, name="my_net")
        ... except ValueError as err:
        ...     print(str(err).split(" on ")[0])
        my_net returned logits of shape (2, 10) for 7 classes
    """
    if not isinstance(model, nn.Module):
        raise AadError(f"the model must be a torch.nn.Module, got {type(model).__name__}.")
    check_count(in_channels, "in_channels", 1)
    check_count(size, "size", 1)
    check_count(num_classes, "num_classes", 2)
    who = name or type(model).__name__
    shape = (2, in_channels, size, size)
    where = f"on a {shape} batch"
    first = next(iter(model.parameters()), None)
    if first is None:
        first = next(iter(model.buffers()), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.full(shape, 0.5, device=device, dtype=dtype)
    flags = [m.training for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:
        message = " ".join(str(err).split()).rstrip(".")
        raise AadError(f"{who} raised {type(err).__name__}: {message} {where}: does it take "
                       f"{in_channels} x {size} x {size} images?") from err
    finally:
        for m, flag in zip(model.modules(), flags):
            m.training = flag
    if not isinstance(out, torch.Tensor):
        raise AadError(f"{who} returned {type(out).__name__}, not a tensor of logits, {where}; its forward must "
                       f"return (N, {num_classes}) logits.")
    if tuple(out.shape) != (2, num_classes):
        raise AadError(f"{who} returned logits of shape {tuple(out.shape)} for {num_classes} classes {where}; "
                       f"the model must return (N, {num_classes}) logits (one row per image, one column per class).")
    if not out.is_floating_point():
        raise AadError(f"{who} returned {out.dtype} outputs {where}, not floating logits.")
    if not bool(torch.isfinite(out).all()):
        raise AadError(f"{who} returned non-finite logits (NaN or inf) {where} of 0.5s.")


def capabilities(model: nn.Module) -> dict[str, bool]:
    """What ``model`` offers beyond logits: ``penultimate`` (features and head) and ``cam_layer`` (Grad-CAM).

    ``penultimate``: ``model.penultimate`` is callable and ``model.head`` is a module (the Guided
    Dropout recipes and the contribution analysis need both). ``cam_layer``: ``model.cam_layer``
    names one of the model's modules (Grad-CAM reads it). Nothing is run.

    Arguments:
        model (nn.Module): any model.

    Examples:
        >>> import torch
        >>> from aad_lib import models
        >>> from aad_lib.models.module_models import capabilities
        >>> capabilities(models.create("lenet_small", size=8))
        {'penultimate': True, 'cam_layer': True}
        >>> capabilities(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)))
        {'penultimate': False, 'cam_layer': False}
    """
    def attribute(key: str) -> Any:
        try:
            return getattr(model, key, None)
        except Exception:  # a property that fails counts as absent
            return None

    layer = attribute("cam_layer")
    has_layer = False
    if isinstance(layer, str) and layer:
        try:
            model.get_submodule(layer)
            has_layer = True
        except AttributeError:
            pass
    return {"penultimate": callable(attribute("penultimate")) and isinstance(attribute("head"), nn.Module),
            "cam_layer": has_layer}


def require(model: nn.Module, capability: str, purpose: str, *, name: str | None = None) -> None:
    """Refuse ``purpose`` clearly when ``model`` lacks ``capability`` (a key of :func:`capabilities`).

    The error names the model, what needs the capability and how a model provides it; for
    ``cam_layer`` it suggests the model's last convolutional module.

    Arguments:
        model (nn.Module): the model.
        capability (str): ``"penultimate"`` or ``"cam_layer"``.
        purpose (str): what needs it, e.g. ``"method 'aalp' (Guided Dropout)"``.
        name (str | None): how the error names the model; None: its class name. Default: None.

    Examples:
        >>> import torch
        >>> from aad_lib.models.module_models import require
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
        >>> try:
        ...     require(net, "penultimate", "method 'aalp' (Guided Dropout)", name="module:my_nets:make")
        ... except ValueError as err:
        ...     print(str(err).split(" needs ")[0])
        module:my_nets:make has no penultimate features: method 'aalp' (Guided Dropout)
    """
    choose(capability, NEEDS, "capability")
    if capabilities(model)[capability]:
        return
    who = name or type(model).__name__
    if capability == "penultimate":
        raise AadError(f"{who} has no penultimate features: {purpose} needs {NEEDS[capability]}.")
    convs = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    hint = (f" (its last convolution is {convs[-1]!r}: set model.cam_layer = {convs[-1]!r}, or a block "
            "that contains it)" if convs else " (it has no convolutional layer)")
    raise AadError(f"{who} names no Grad-CAM layer: {purpose} needs {NEEDS[capability]}{hint}.")


__all__ = ["FORM", "KEYWORDS", "NEEDS", "capabilities", "check_model", "create_module_model", "factory_kwargs",
           "is_module_name", "parse", "require", "resolve"]
