"""The contract every public attack keeps, tested once over the registry
(:data:`aad_lib.attacks.ATTACKS`) instead of once per attack file: the result is a fresh, detached
tensor of the input's shape, dtype and device, in [0, 1] and (for attacks with an eps) in the eps
ball; the input is not modified; the model's parameters, buffers, gradients and (mixed) train/eval
flags are as they were; the attack works inside ``torch.no_grad()``; it actually attacks. A new
attack in ``aad_lib.attacks.__all__`` must be registered, so it cannot skip the contract.

The labels are the model's own clean predictions: every image starts correctly classified, so the
attacks with ``stop_when_fooled`` have work to do.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from torch import nn

from aad_lib import attacks, models
from aad_lib.attacks import ATTACKS
from aad_lib.attacks.registry import AttackEntry, names

# The public names of aad_lib.attacks that are not attacks. A new name in __all__ is either an
# attack (register it in aad_lib/attacks/registry.py) or listed here with the reason.
NOT_ATTACKS: dict[str, str] = {
    "cross_entropy": "an objective the attacks ascend, not an attack",
    "cw_margin": "an objective the attacks ascend, not an attack",
    "model_mode": "the context manager the attacks use to set and restore the model's mode",
    "least_likely": "the target class of the Step-LL family, computed by the attacks themselves",
    "kurakin_schedule": "BIM's (alpha, steps) from the paper, a schedule and not an attack",
    "bpda": "a tensor -> tensor transform builder; the attack on it is the 'bpda' record (BPDADefended)",
    "ATTACKS": "this registry",
    "AttackEntry": "the registry's record type",
}
# Minimal-perturbation attacks have no eps: they stop once the label flips, only [0, 1] bounds
# the result (DeepFool, Moosavi-Dezfooli et al. 2016), so the eps-ball test does not apply.
NO_BALL_REASON = "minimal-perturbation attack: no eps ball, it stops once the label flips"
MINIMAL_PERTURBATION = {"deepfool", "deepfool_with_info"}
EPS = {"linf": 0.3, "l2": 2.0, None: 0.3}  # None: passed but ignored
TOLERANCE = {"linf": 1e-6, "l2": 1e-4}  # float32 rounding of the difference / of its L2 norm
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
NAMES = list(names())


def _entries() -> list[object]:
    """Every record, the ball-free ones marked to skip the eps-ball test with the reason."""
    return [pytest.param(name, id=name, marks=pytest.mark.skip(reason=f"{name}: {NO_BALL_REASON}"))
            if ATTACKS[name].norm is None else pytest.param(name, id=name) for name in NAMES]


@pytest.fixture
def batch(tiny_model: nn.Module, digits: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """32 digits and the tiny model's own predictions as labels (all correct to begin with)."""
    x, _ = digits
    with torch.no_grad():
        return x, tiny_model(x).argmax(1)


def _attack(name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    entry = ATTACKS[name]
    return entry.call(model, x, y, EPS[entry.norm])


def _mix_modes(model: nn.Module, training: bool) -> list[bool]:
    """``model`` in mode ``training`` with its conv block in the other mode; every module's flag."""
    model.train(training)
    model.body.conv.train(not training)
    return [m.training for m in model.modules()]


def _ball_violation(name: str, x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> str | None:
    """None if ``x_adv`` lies in the eps ball of ``ATTACKS[name].norm`` around ``x``, else why not."""
    norm = ATTACKS[name].norm
    d = (x_adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    worst = int(size.argmax())
    if size[worst] <= eps + TOLERANCE[norm]:
        return None
    return f"{name}: image {worst} is {float(size[worst]):.6g} from x in {norm}, outside the eps ball of {eps}"


# --- the registry ------------------------------------------------------------------------------

def test_every_public_attack_is_registered() -> None:
    public = set(attacks.__all__)
    stale = sorted(set(NOT_ATTACKS) - public)
    assert not stale, f"NOT_ATTACKS lists names that aad_lib.attacks.__all__ no longer has: {stale}"
    registered = {id(entry.attack) for entry in ATTACKS.values()}
    missing = sorted(n for n in public - set(NOT_ATTACKS) if id(getattr(attacks, n)) not in registered)
    assert not missing, (f"public attacks without a record in aad_lib/attacks/registry.py (add one, or list "
                         f"a non-attack in NOT_ATTACKS with the reason): {missing}")
    exported = {id(getattr(attacks, n)) for n in public}
    private = sorted(e.name for e in ATTACKS.values() if id(e.attack) not in exported)
    assert not private, f"registered attacks that aad_lib.attacks.__all__ does not export: {private}"


def test_registry_records_are_well_formed() -> None:
    assert names() == tuple(ATTACKS) and len(set(names())) == len(ATTACKS), "names() must list each key once, in order"
    for key, entry in ATTACKS.items():
        assert isinstance(entry, AttackEntry) and entry.name == key, f"record under {key!r} is named {entry.name!r}"
        assert entry.norm in ("linf", "l2", None), f"{key}: norm {entry.norm!r} is not 'linf', 'l2' or None"
        assert callable(entry.attack) and callable(entry.call), f"{key}: attack and call must be callable"


def test_only_minimal_perturbation_attacks_have_no_eps_ball() -> None:
    """An attack cannot dodge the eps-ball test by registering norm None."""
    ball_free = {name for name, entry in ATTACKS.items() if entry.norm is None}
    assert ball_free == MINIMAL_PERTURBATION, (f"attacks registered without an eps ball {sorted(ball_free)} "
                                               f"!= the minimal-perturbation attacks {sorted(MINIMAL_PERTURBATION)}")


# --- the contract, one test per clause ----------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_result_is_a_detached_tensor_like_the_input(name: str, dtype: torch.dtype, device: str,
                                                    tiny_model: nn.Module,
                                                    batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = tiny_model.to(device=device, dtype=dtype)
    x, y = (t.to(device) for t in batch)
    x = x.to(dtype)
    x_adv = _attack(name, model, x, y)
    assert isinstance(x_adv, torch.Tensor), f"{name} returned a {type(x_adv).__name__}, not a tensor"
    assert x_adv.shape == x.shape, f"{name}: result shape {tuple(x_adv.shape)} != input shape {tuple(x.shape)}"
    assert x_adv.dtype == x.dtype, f"{name}: result dtype {x_adv.dtype} != input dtype {x.dtype}"
    assert x_adv.device == x.device, f"{name}: result on {x_adv.device}, input on {x.device}"
    assert not x_adv.requires_grad and x_adv.grad_fn is None, f"{name}: the result is attached to a graph"


@pytest.mark.parametrize("name", NAMES)
def test_input_is_neither_modified_nor_aliased(name: str, tiny_model: nn.Module,
                                               batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    x_before, y_before = x.clone(), y.clone()
    x_adv = _attack(name, tiny_model, x, y)
    assert torch.equal(x, x_before), f"{name} modified the input images in place"
    assert torch.equal(y, y_before), f"{name} modified the labels in place"
    assert not x.requires_grad and x.grad is None, f"{name} left requires_grad or a .grad on the input"
    assert x_adv.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), (
        f"{name}: the result shares memory with the input (writing into it would change the caller's images)")


@pytest.mark.parametrize("name", NAMES)
def test_model_parameters_buffers_and_gradients_are_untouched(name: str, tiny_model: nn.Module,
                                                              batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    params = dict(tiny_model.named_parameters())
    own_grad = torch.full_like(params["head.weight"], 7.0)
    params["head.weight"].grad = own_grad  # a gradient the caller accumulated must survive as it is
    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    _attack(name, tiny_model, x, y)
    assert dict(tiny_model.named_parameters()) == params, f"{name} replaced parameters of the model"
    changed = [k for k, v in tiny_model.state_dict().items() if not torch.equal(v, state[k])]
    assert not changed, f"{name} changed parameters or buffers of the model: {changed}"
    frozen = [n for n, p in params.items() if not p.requires_grad]
    assert not frozen, f"{name} left requires_grad off on parameters: {frozen}"
    written = [n for n, p in params.items() if n != "head.weight" and p.grad is not None]
    assert not written, f"{name} wrote .grad on parameters: {written}"
    assert params["head.weight"].grad is own_grad and torch.equal(own_grad, torch.full_like(own_grad, 7.0)), (
        f"{name} replaced, cleared or accumulated into the caller's head.weight.grad")


@pytest.mark.parametrize("start_mode", ["train", "eval"])
@pytest.mark.parametrize("name", NAMES)
def test_model_mode_is_restored(name: str, start_mode: str, tiny_model: nn.Module,
                                batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The model in ``start_mode`` with its conv block in the other one: every module's own flag
    comes back (a mixed-mode model must come back mixed)."""
    x, y = batch
    flags = _mix_modes(tiny_model, start_mode == "train")
    _attack(name, tiny_model, x, y)
    after = [m.training for m in tiny_model.modules()]
    wrong = [n or "<model>" for (n, _), a, b in zip(tiny_model.named_modules(), after, flags) if a != b]
    assert not wrong, (f"{name} left these modules in the other mode (model started in {start_mode}, "
                       f"its conv block in the other): {wrong}")


@pytest.mark.parametrize("name", NAMES)
def test_result_lies_in_the_unit_interval(name: str, tiny_model: nn.Module,
                                          batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    x_adv = _attack(name, tiny_model, x, y)
    assert not torch.isnan(x_adv).any(), f"{name}: NaN in the result"
    assert x_adv.min() >= 0 and x_adv.max() <= 1, (
        f"{name}: result spans [{float(x_adv.min()):.6g}, {float(x_adv.max()):.6g}], outside [0, 1]")


@pytest.mark.parametrize("name", _entries())
def test_result_lies_in_the_eps_ball(name: str, tiny_model: nn.Module,
                                     batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = batch
    eps = EPS[ATTACKS[name].norm]
    violation = _ball_violation(name, x, _attack(name, tiny_model, x, y), eps)
    assert violation is None, violation


@pytest.mark.parametrize("name", NAMES)
def test_attack_works_inside_no_grad(name: str, tiny_model: nn.Module,
                                     batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Callers evaluate inside ``torch.no_grad()``: the attack still computes its gradients, gives
    the same images as outside, and leaves grad mode off."""
    x, y = batch
    outside = _attack(name, tiny_model, x, y)
    with torch.no_grad():
        inside = _attack(name, tiny_model, x, y)
        assert not torch.is_grad_enabled(), f"{name} switched grad mode on for its caller"
    assert not torch.equal(inside, x), f"{name} inside torch.no_grad() returned the input unchanged"
    assert torch.equal(inside, outside), f"{name} gives other images inside torch.no_grad() than outside"


@pytest.mark.parametrize("name", NAMES)
def test_attack_moves_every_image_and_fools_some(name: str, tiny_model: nn.Module,
                                                 batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """An attack that returned its input, or climbed the wrong way, would keep every other clause."""
    x, y = batch
    x_adv = _attack(name, tiny_model, x, y)
    unmoved = (x_adv == x).flatten(1).all(1)
    assert not unmoved.any(), f"{name} left images {unmoved.nonzero().flatten().tolist()} unchanged"
    with torch.no_grad():
        fooled = (tiny_model(x_adv).argmax(1) != y).float().mean().item()
    assert fooled >= 0.1, f"{name} fooled {fooled:.0%} of 32 correctly classified images (expected >= 10%)"


# Subnormal eps (below 2.2e-308) left out: bim's default step eps / steps underflows to 0 there and
# is refused as alpha 0; no one attacks with such a radius.
@settings(max_examples=8, deadline=None)
@given(eps=st.floats(0.0, 0.5, allow_subnormal=False), n=st.integers(1, 4), training=st.booleans())
@example(eps=0.0, n=1, training=True)
@example(eps=0.5, n=4, training=False)
@pytest.mark.parametrize("name", NAMES)
def test_contract_holds_for_any_eps_and_batch_size(name: str, eps: float, n: int, training: bool) -> None:
    """The whole contract on random 12x12 images, eps from 0 (nothing may move) to 0.5, batches
    down to one image, a model in either mode (its conv block in the other)."""
    torch.manual_seed(0)
    model = models.create("lenet_small", size=12)
    flags = _mix_modes(model, training)
    x = torch.rand(n, 1, 12, 12)
    with torch.no_grad():
        y = model(x).argmax(1)  # every image correct, so stop_when_fooled attacks have work to do,
    y[1:2] = (y[1:2] + 1) % 10  # except the second (if any): misclassified from the start
    x_before = x.clone()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x_adv = ATTACKS[name].call(model, x, y, eps)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype, f"{name}: result {tuple(x_adv.shape)} {x_adv.dtype}"
    assert 0 <= x_adv.min() and x_adv.max() <= 1, f"{name}: result outside [0, 1] at eps {eps}, n {n}"
    if ATTACKS[name].norm is not None:
        violation = _ball_violation(name, x, x_adv, eps)
        assert violation is None, f"{violation} (n {n})"
    assert torch.equal(x, x_before), f"{name} modified the input in place (eps {eps}, n {n})"
    assert x_adv.untyped_storage().data_ptr() != x.untyped_storage().data_ptr(), (
        f"{name}: the result shares memory with the input (eps {eps}, n {n})")
    assert [m.training for m in model.modules()] == flags, f"{name} did not restore the model's modes"
    assert all(p.grad is None for p in model.parameters()), f"{name} wrote .grad on parameters"
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items()), f"{name} changed the model's state"
