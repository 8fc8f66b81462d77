"""Several models of one architecture as one module: stacked weights (``torch.func.stack_module_state``)
and every forward one vmapped ``functional_call`` over the models.

Row layout: the rows of the K models alternate, row ``i`` belongs to model ``i % K``
(:func:`interleave`). That layout survives what the recipes do to a batch (``torch.cat`` of clean
and adversarial rows, ``chunk``, ``repeat``), so a recipe's attack and forward passes run on the
stack unchanged; only what reduces over a batch (a loss, a Guided Dropout mask) is taken per model
(:meth:`aad_lib.training.recipes.Batch.per_model`).

The stacked weights are leaves of their own: one optimiser over them is K optimisers at once
(Adam and SGD act element by element), and :func:`model_state` / :func:`optimizer_state` cut model
k's share out again in the very format of its separate run, so checkpoints, resume and the
monitor are those of :func:`aad_lib.training.train`.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..validation import AadError

# optimiser state entries that are one value for all models of a stack (they step together)
SHARED_STATE = ("step",)


def interleave(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """The rows of K equally long tensors alternating: row ``i`` of the result is row ``i // K`` of tensor ``i % K``.

    Arguments:
        tensors (Sequence[torch.Tensor]): one tensor per model, equal shapes.

    Shape:
        - tensors: K tensors of (N, ...).
        - returns: (N * K, ...).

    Examples:
        >>> import torch
        >>> from aad_lib.training.stack import interleave, rows_of
        >>> z = interleave([torch.tensor([1, 2]), torch.tensor([10, 20])])
        >>> z, rows_of(z, 1, 2)
        (tensor([ 1, 10,  2, 20]), tensor([10, 20]))
    """
    return torch.stack(list(tensors), dim=1).flatten(0, 1)


def rows_of(rows: torch.Tensor, k: int, count: int) -> torch.Tensor:
    """Model ``k``'s rows of an interleaved tensor of ``count`` models (a strided view).

    Arguments:
        rows (torch.Tensor): rows of ``count`` models, interleaved (:func:`interleave`).
        k (int): the model, 0 <= k < count.
        count (int): how many models the rows belong to.

    Shape:
        - rows: (N * count, ...).
        - returns: (N, ...).

    Examples:
        >>> import torch
        >>> from aad_lib.training.stack import rows_of
        >>> rows_of(torch.arange(6), 0, 3)
        tensor([0, 3])
    """
    return rows[k::count]


class _Method(nn.Module):
    """``model.<name>(x)`` as a module's forward, so that ``functional_call`` can swap the weights
    for one call of any method (``forward``, ``penultimate``, ``head``)."""

    def __init__(self, model: nn.Module, name: str):
        super().__init__()
        self.model = model
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.name)(x)


class ModelStack(nn.Module):
    """K models of one architecture trained as one computation (stacked weights, ``torch.func.vmap``).

    ``stack(x)`` is ``interleave([model_k(rows_of(x, k, K)) for k])``, computed as one vmapped
    ``functional_call`` of a template copy of the first model with the stacked weights; so are
    ``penultimate`` and ``head`` (Guided Dropout). Train/eval mode switches reach the template, so
    each model runs in the mode its separate run would (batch norm included: its statistics are
    per model, in the stacked buffers). ``parameters()`` are the stacked leaves (what the optimiser
    steps); the template's own weights are never used.

    Arguments:
        models (Sequence[nn.Module]): two or more models with the same ``state_dict`` keys and
            shapes, on one device; their weights are copied.

    Shape:
        - x: (N * K, C, H, W), values in [0, 1], rows interleaved (:func:`interleave`).
        - returns: (N * K, num_classes), rows interleaved.

    Examples:
        >>> import torch
        >>> from aad_lib.training.stack import ModelStack, interleave
        >>> models = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)) for _ in range(2)]
        >>> stack = ModelStack(models)
        >>> xs = [torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2)]
        >>> out = stack(interleave(xs))
        >>> out.shape, torch.allclose(out, interleave([m(x) for m, x in zip(models, xs)]), atol=1e-6)
        (torch.Size([10, 3]), True)
    """

    # row i is model i % K's: an attack must not drop settled rows from the batch (aad_lib.attacks.pgd)
    rows_stay_in_place = True

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        models = list(models)
        if len(models) < 2:
            raise AadError(f"a model stack needs at least two models, got {len(models)}.")
        shapes = {k: (v.shape, v.dtype) for k, v in models[0].state_dict().items()}
        for i, m in enumerate(models[1:], 1):
            other = {k: (v.shape, v.dtype) for k, v in m.state_dict().items()}
            if other != shapes:
                raise AadError(f"model {i} of the stack differs from model 0 in its state_dict keys or shapes; "
                               "a stack holds models of one architecture.")
        self.count = len(models)
        self.keys = list(shapes)  # the state_dict order of one model
        params, buffers = stack_module_state(models)
        self.weights: dict[str, torch.Tensor] = params
        self.stacked_buffers: dict[str, torch.Tensor] = buffers
        self.template = copy.deepcopy(models[0])
        self._calls = {name: _Method(self.template, name) for name in ("forward", "penultimate", "head")}

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        """The stacked weights (leaves, one tensor per weight of a model, the model index first)."""
        return iter(self.weights.values())

    @property
    def num_classes(self) -> int:
        return self.template.num_classes

    @property
    def num_features(self) -> int:
        return self.template.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._call("forward", x)

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Each model's penultimate features of its own rows, interleaved."""
        return self._call("penultimate", x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Each model's head on its own rows of penultimate features, interleaved."""
        return self._call("head", features)

    def _call(self, name: str, rows: torch.Tensor) -> torch.Tensor:
        k = self.count
        if rows.shape[0] % k:
            raise AadError(f"a stack of {k} models takes a multiple of {k} rows (interleaved), got {rows.shape[0]}.")
        module = self._calls[name]
        weights = {f"model.{n}": v for n, v in self.weights.items()}
        buffers = {f"model.{n}": v for n, v in self.stacked_buffers.items()}

        def one(w: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(module, (w, b), (x,))

        by_model = rows.reshape(rows.shape[0] // k, k, *rows.shape[1:])
        return vmap(one, in_dims=(0, 0, 1), out_dims=1)(weights, buffers, by_model).flatten(0, 1)

    def model_state(self, k: int) -> dict[str, torch.Tensor]:
        """Model ``k``'s ``state_dict`` (copies, in one model's key order)."""
        both = {**self.weights, **self.stacked_buffers}
        return {key: both[key][k].detach().clone() for key in self.keys}

    def load_model_states(self, states: Sequence[dict[str, torch.Tensor]]) -> None:
        """Overwrite the stacked weights and buffers with one ``state_dict`` per model, in place."""
        with torch.no_grad():
            for name, stacked in {**self.weights, **self.stacked_buffers}.items():
                stacked.copy_(torch.stack([s[name].to(stacked.device) for s in states]))


def optimizer_state(stacked: dict[str, Any], k: int) -> dict[str, Any]:
    """Model ``k``'s share of the ``state_dict`` of an optimiser over stacked weights, as its own optimiser's.

    Per-weight state tensors (Adam's moments, SGD's momentum) are cut to model ``k``'s slice;
    the step count (:data:`SHARED_STATE`) is the same for every model.

    Arguments:
        stacked (dict[str, Any]): ``optimizer.state_dict()`` of the optimiser over stacked weights.
        k (int): the model.

    Examples:
        >>> import torch
        >>> from aad_lib.training.stack import optimizer_state
        >>> w = torch.zeros(2, 3, requires_grad=True)  # two models of three weights
        >>> opt = torch.optim.Adam([w], lr=0.1)
        >>> w.grad = torch.tensor([[1.0, 1, 1], [2, 2, 2]]); opt.step()
        >>> own = optimizer_state(opt.state_dict(), 1)
        >>> own["state"][0]["exp_avg"], own["state"][0]["step"]
        (tensor([0.2000, 0.2000, 0.2000]), tensor(1.))
    """
    state = {i: {name: (copy.deepcopy(v) if name in SHARED_STATE else v[k].clone())
                 for name, v in per_weight.items()}
             for i, per_weight in stacked["state"].items()}
    return {"state": state, "param_groups": copy.deepcopy(stacked["param_groups"])}


def stacked_optimizer_state(states: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``state_dict`` of one optimiser over stacked weights from each model's own (the inverse of :func:`optimizer_state`).

    The models must be at the same point (same step count and hyperparameters), as models
    resumed from the same epoch are.

    Arguments:
        states (Sequence[dict[str, Any]]): each model's ``optimizer.state_dict()``, in stack order.

    Examples:
        >>> import torch
        >>> from aad_lib.training.stack import optimizer_state, stacked_optimizer_state
        >>> w = torch.zeros(2, 3, requires_grad=True)
        >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.grad = torch.ones(2, 3); opt.step()
        >>> whole = stacked_optimizer_state([optimizer_state(opt.state_dict(), k) for k in range(2)])
        >>> torch.equal(whole["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"])
        True
    """
    first = states[0]
    if any(s["param_groups"] != first["param_groups"] or s["state"].keys() != first["state"].keys() for s in states):
        raise AadError("the models of a stack must resume from the same point (optimiser steps and settings); "
                       "they differ.")
    merged: dict[int, dict[str, Any]] = {}
    for i, per_weight in first["state"].items():
        merged[i] = {}
        for name, v in per_weight.items():
            if name in SHARED_STATE:
                if any(not _same(s["state"][i][name], v) for s in states):
                    raise AadError(f"the models of a stack must resume from the same point; their optimiser "
                                   f"{name!r} differs.")
                merged[i][name] = copy.deepcopy(v)
            else:
                merged[i][name] = torch.stack([s["state"][i][name] for s in states])
    return {"state": merged, "param_groups": copy.deepcopy(first["param_groups"])}


def _same(a: Any, b: Any) -> bool:
    return torch.equal(a, b) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) else a == b
