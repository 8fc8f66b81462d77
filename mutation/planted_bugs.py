"""Replay the bugs of wrong science that a review planted by hand, and check the tests catch each.

The review of issue "Tests that catch wrong science" planted, one at a time and by hand, the kinds
of bug that leave the code running and its numbers plausible while the science is wrong: a recipe
wired to the wrong images or without one of its terms, a resume that ignores a changed config, a
loss that ignores its input, a Grad-CAM that does not average its weights, an ARP mask thresholded
at the wrong mean, EOT that keeps one draw, a bootstrap at the wrong level or with a one-sided
p-value, an L2 PGD step that is not normalised, projects wrongly or descends, a one-sided random
start, per-sample records that compare logits with themselves. This script replays those bugs so
that anyone can re-check, after any change to the code or the tests, that each kind is still caught.

For each planted bug it

1. makes a fresh scratch copy of the project under ``/tmp/planted/<bug id>/`` (``aad_lib``,
   ``tests``, the bundled data and the small project files the tests read; never the models or
   DVC's cache),
2. applies the bug as one exact text replacement in one source file of the copy; the original
   text must occur exactly once in this checkout's file, else the script stops at once with an
   error (a bug whose anchor moved must be re-planted by hand, never skipped silently),
3. runs the test files a developer would run for that module in the copy (``PYTHONPATH`` and the
   working directory the copy, so the copy's ``aad_lib`` is the code under test; the script checks
   that it is), with ``-x -q -p no:cacheprovider -o addopts="" -m "not slow"``,
4. records **KILLED** (pytest exit 1; the first failing test is named), **SURVIVED** (exit 0: no
   test noticed the bug, a finding) or **ERROR** (anything else: a collection error, a timeout).

Before the bugs, a control run of the same test files on an unplanted copy must pass (else a
"kill" would mean nothing); ``--skip-control`` skips it. Results go to
``mutation/planted_bugs.md`` as a Markdown table; ``--only ID`` (repeatable) reruns some bugs and
updates their rows, keeping the other rows of the last run (the table carries its data in a
comment for that). Nothing under the project is modified except that report.

Usage (from the project root)::

    .venv/bin/python mutation/planted_bugs.py               # every bug (a few minutes on 2 cores)
    .venv/bin/python mutation/planted_bugs.py --only trades-beta-fixed --only eot-last-draw
    .venv/bin/python mutation/planted_bugs.py --list        # the bugs, planting nothing
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "mutation" / "planted_bugs.md"
SCRATCH = Path("/tmp/planted")
# What a scratch copy holds: the package, the tests and what they read (conftest's PROJECT_FILES,
# the bundled MNIST-5k the `digits` fixture loads, the README and scripts some tests quote).
COPY = ["aad_lib", "tests", "data", "docs", "notebooks", "profiles", "scripts", "benchmarks", "dvc.yaml",
        "dvc.lock", "params.yaml", "data.dvc", ".dvc/config", ".dvc/.gitignore", ".dvc/plots", ".dvcignore",
        ".gitignore", "pyproject.toml", "README.md", "Makefile", "environment.yml"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", "not slow", "-rfE", "--tb=short"]
PYTEST_SHOWN = '-x -q -p no:cacheprovider -o addopts="" -m "not slow" -rfE --tb=short'
TIMEOUT_S = 900

RECIPE_TESTS = ("tests/test_recipes_by_hand.py", "tests/test_training.py")
LOSS_TESTS = ("tests/test_losses.py", "tests/test_recipes_by_hand.py")
RESUME_TESTS = ("tests/test_training.py", "tests/test_kill_resume.py", "tests/test_batched_training.py")
COMDEFEND_TESTS = ("tests/test_comdefend.py", "tests/test_recipes_by_hand.py")
GRADCAM_TESTS = ("tests/test_attention.py", "tests/test_attention_study.py")
ATTACK_TESTS = ("tests/test_attacks.py", "tests/test_attack_details.py", "tests/test_attack_edge_cases.py")
EOT_TESTS = ATTACK_TESTS + ("tests/test_compression.py",)
BOOTSTRAP_TESTS = ("tests/test_analysis.py", "tests/test_section_tables.py")
EVALUATION_TESTS = ("tests/test_evaluation.py", "tests/test_analysis.py")
HISTORY_TESTS = ("tests/test_analysis.py",)


@dataclass(frozen=True)
class Bug:
    """One planted bug: replace ``old`` (which must occur exactly once) by ``new`` in ``file``."""

    id: str
    kind: str
    file: str
    old: str
    new: str
    what: str
    tests: tuple[str, ...]

    def digest(self) -> str:
        """Changes when the bug's definition changes (an old result then no longer counts)."""
        return hashlib.sha256(json.dumps([self.file, self.old, self.new, list(self.tests)]).encode()).hexdigest()[:12]


BUGS = [
    # ------------------------------------------------------------------ recipe wiring
    Bug("madry-clean", "recipe wiring", "aad_lib/training/recipes.py",
        "    x_adv = b.pgd_examples()\n    z_adv = b.model(x_adv)\n",
        "    x_adv = b.pgd_examples()\n    z_adv = b.model(b.x)\n",
        "Madry (ADV) trains on the clean images: the PGD examples are made, then ignored",
        RECIPE_TESTS),
    Bug("aalp-no-adaptive", "recipe wiring", "aad_lib/training/recipes.py",
        "return _alp_family(b, guided=True, adaptive=True)",
        "return _alp_family(b, guided=True, adaptive=False)",
        "AALP without its adaptive weight p_y(x) (Eq. 9): plain ALP through Guided Dropout",
        RECIPE_TESTS),
    Bug("alp-as-adaptive", "recipe wiring", "aad_lib/training/recipes.py",
        "return _alp_family(b, guided=False, adaptive=False)",
        "return _alp_family(b, guided=False, adaptive=True)",
        "ALP wired as the adaptive variant (its pairs weighted by p_y(x))",
        RECIPE_TESTS),
    Bug("trades-ce-on-adv", "recipe wiring", "aad_lib/training/recipes.py",
        "    ce = b.per_model(F.cross_entropy, z_clean, b.y)\n",
        "    ce = b.per_model(F.cross_entropy, z_adv, b.y)\n",
        "TRADES' cross-entropy taken on the adversarial logits instead of the clean ones",
        RECIPE_TESTS),
    Bug("trades-beta-fixed", "recipe wiring", "aad_lib/training/recipes.py",
        'ce + float(b.options["trades_beta"]) * kl',
        "ce + 1.0 * kl",
        "TRADES' beta ignored (always 1)",
        RECIPE_TESTS),
    Bug("arp-rectify-sign", "recipe wiring", "aad_lib/training/recipes.py",
        "loss = losses.arp_total(ce, rectify, preserve,",
        "loss = losses.arp_total(ce, -rectify, preserve,",
        "ARP's rectification term enters the loss with its sign flipped (the logged part unchanged)",
        RECIPE_TESTS),
    Bug("arp-preserve-clean-clean", "recipe wiring", "aad_lib/training/recipes.py",
        "preserve = losses.preservation(maps[:n].repeat(copies, 1, 1), maps[n:])",
        "preserve = losses.preservation(maps[:n].repeat(copies, 1, 1), maps[:n].repeat(copies, 1, 1))",
        "ARP's preservation term compares the clean maps with themselves (always 0)",
        RECIPE_TESTS),
    Bug("gd-no-mask", "recipe wiring", "aad_lib/training/recipes.py",
        '    z, _ = guided_logits(b.model, b.x, b.y, bool(b.options["gd_rescale"]), groups=b.models)\n',
        "    z = b.model(b.x)\n",
        "the Guided Dropout recipe (standard+gd) trains the whole network, without its dropout mask",
        RECIPE_TESTS),
    # ------------------------------------------------------------------ resume
    Bug("resume-any-config", "resume", "aad_lib/training/runs.py",
        'if meta.get("fingerprint") != fp:',
        "if False:",
        "a run resumes the newest checkpoint whatever its config fingerprint (the comparison always passes)",
        RESUME_TESTS),
    # ------------------------------------------------------------------ ComDefend loss
    Bug("comdefend-ignores-x", "ComDefend loss", "aad_lib/defenses/comdefend_loss.py",
        "mse = (reconstruction - x).pow(2).mean()",
        "mse = reconstruction.pow(2).mean()",
        "the reconstruction term ignores x (penalises the reconstruction's power instead)",
        COMDEFEND_TESTS),
    Bug("comdefend-lambda-wrong-term", "ComDefend loss", "aad_lib/defenses/comdefend_loss.py",
        "loss = mse + lam * code",
        "loss = lam * mse + code",
        "lambda weights the reconstruction MSE instead of the code penalty",
        COMDEFEND_TESTS),
    # ------------------------------------------------------------------ Grad-CAM
    Bug("gradcam-one-position", "Grad-CAM", "aad_lib/attention/gradcam.py",
        "weights = grad.mean(dim=(2, 3), keepdim=True)",
        "weights = grad[:, :, :1, :1]",
        "the channel weights alpha_k are the gradient at the top-left position, not its mean over positions",
        GRADCAM_TESTS),
    Bug("gradcam-sum", "Grad-CAM", "aad_lib/attention/gradcam.py",
        "weights = grad.mean(dim=(2, 3), keepdim=True)",
        "weights = grad.sum(dim=(2, 3), keepdim=True)",
        "the channel weights summed over positions instead of averaged (maps scaled by h*w; an extra "
        "variant of the same kind)",
        GRADCAM_TESTS),
    # ------------------------------------------------------------------ ARP mask
    Bug("arp-mask-batch-mean", "ARP mask", "aad_lib/losses.py",
        "return (maps > maps.flatten(1).mean(1).view(-1, 1, 1)).float()",
        "return (maps > maps.mean()).float()",
        "the attention mask thresholds every map at the batch mean instead of its own mean",
        LOSS_TESTS),
    Bug("arp-mask-ge", "ARP mask", "aad_lib/losses.py",
        "return (maps > maps.flatten(1).mean(1).view(-1, 1, 1)).float()",
        "return (maps >= maps.flatten(1).mean(1).view(-1, 1, 1)).float()",
        "the attention mask keeps positions equal to the mean (>= instead of >)",
        LOSS_TESTS),
    # ------------------------------------------------------------------ EOT
    Bug("eot-last-draw", "EOT", "aad_lib/attacks/pgd.py",
        "        grad = grad + more\n",
        "        grad = more\n",
        "EOT steps along the last draw's gradient only, not the mean of the draws",
        EOT_TESTS),
    # ------------------------------------------------------------------ paired bootstrap
    Bug("bootstrap-50-percent", "paired bootstrap", "aad_lib/sections/aalp/analysis.py",
        "lo, hi = np.quantile(boot, [0.025, 0.975])",
        "lo, hi = np.quantile(boot, [0.25, 0.75])",
        "the paired bootstrap reports a 50% interval as the 95% one",
        BOOTSTRAP_TESTS),
    Bug("bootstrap-one-sided-p", "paired bootstrap", "aad_lib/sections/aalp/analysis.py",
        "p = float(np.mean(np.abs(centred) >= abs(d.mean())))",
        "p = float(np.mean(centred >= abs(d.mean())))",
        "the bootstrap p-value is one-sided (the upper tail only) instead of two-sided",
        BOOTSTRAP_TESTS),
    # ------------------------------------------------------------------ PGD
    Bug("pgd-l2-unnormalised", "PGD L2", "aad_lib/attacks/pgd.py",
        "    grad = grad / (grad.flatten(1).norm(dim=1).view(shape) + 1e-10)\n",
        "",
        "the L2 step moves alpha times the raw gradient instead of the unit-norm gradient",
        ATTACK_TESTS),
    Bug("pgd-l2-always-sphere", "PGD L2", "aad_lib/attacks/pgd.py",
        "factor = (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0)",
        "factor = eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)",
        "the L2 projection always rescales delta onto the sphere of radius eps, also from inside the ball",
        ATTACK_TESTS),
    Bug("pgd-l2-descends", "PGD L2", "aad_lib/attacks/pgd.py",
        "delta = x_adv + alpha * grad - x",
        "delta = x_adv - alpha * grad - x",
        "the L2 step descends the loss",
        ATTACK_TESTS),
    Bug("linf-start-one-sided", "random start", "aad_lib/attacks/starts.py",
        "delta = torch.empty_like(x).uniform_(-eps, eps, generator=generator)",
        "delta = torch.empty_like(x).uniform_(0, eps, generator=generator)",
        "the L-inf random start is uniform in [0, eps] instead of [-eps, eps]",
        ATTACK_TESTS),
    # ------------------------------------------------------------------ per-sample records
    Bug("eval-pair-self", "per-sample records", "aad_lib/evaluation.py",
        'columns[f"pair:{name}"] = pair_distances(clean, z).numpy()',
        'columns[f"pair:{name}"] = pair_distances(z, z).numpy()',
        "the evaluation's pair:<attack> column compares the adversarial logits with themselves (always 0)",
        EVALUATION_TESTS),
    Bug("history-alp-self", "per-sample records", "aad_lib/sections/aalp/analysis.py",
        '"ALP loss": pair_distances(z, z_adv).cpu().numpy(),',
        '"ALP loss": pair_distances(z, z).cpu().numpy(),',
        "the training history's ALP loss column compares the clean logits with themselves (always 0)",
        HISTORY_TESTS),
]


@dataclass
class Result:
    id: str
    kind: str
    file: str
    what: str
    old: str
    new: str
    tests: list[str]
    outcome: str  # KILLED, SURVIVED, ERROR
    first_failure: str
    seconds: float
    exit_code: int | None
    digest: str
    run_at: str
    log: str


class Stale(Exception):
    """A bug's original text is not found exactly once: the code moved on."""


def check_anchor(bug: Bug) -> str:
    """The file's text (from this checkout) after checking ``bug.old`` occurs there exactly once."""
    path = ROOT / bug.file
    if not path.is_file():
        raise Stale(f"{bug.id}: {bug.file} does not exist")
    text = path.read_text()
    count = text.count(bug.old)
    if count != 1:
        raise Stale(f"{bug.id}: the original text occurs {count} times in {bug.file}, not once:\n{bug.old!r}")
    if bug.old == bug.new:
        raise Stale(f"{bug.id}: the replacement equals the original")
    for test in bug.tests:
        if not (ROOT / test).is_file():
            raise Stale(f"{bug.id}: test file {test} does not exist")
    return text


def fresh_copy(dest: Path) -> None:
    """A scratch copy of the project at ``dest`` (removed first if it exists)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        if not src.exists():
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=IGNORE, symlinks=True)
        else:
            shutil.copy2(src, target)


def scratch_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COVERAGE_PROCESS_START")}
    env["PYTHONPATH"] = str(root)
    env.setdefault("MPLBACKEND", "Agg")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # the interpreter's own commands (aad, dvc) first, as tests/conftest.py does
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def check_code_under_test(root: Path) -> None:
    """The copy's aad_lib, not the editable install of the project, is what the tests import."""
    out = subprocess.run([sys.executable, "-c", "import aad_lib, sys; sys.stdout.write(aad_lib.__file__)"],
                         cwd=root, env=scratch_env(root), capture_output=True, text=True)
    where = Path(out.stdout.strip()).resolve() if out.returncode == 0 else None
    if where is None or root.resolve() not in where.parents:
        raise SystemExit(f"in {root} `import aad_lib` gives {where or out.stderr.strip()}, not the scratch copy: "
                         "the planted bug would not be under test.")


def first_failure(output: str) -> str:
    """The node id of the first FAILED (or ERROR) line of pytest's short summary."""
    for line in output.splitlines():
        m = re.match(r"^(FAILED|ERROR) (\S+)", line)
        if m:
            return m.group(2) if m.group(1) == "FAILED" else f"{m.group(2)} (error)"
    return ""


def run_tests(root: Path, tests: tuple[str, ...] | list[str], log: Path) -> tuple[int | None, str, float]:
    """Run ``tests`` in ``root``; returns (exit code or None on timeout, first failing test, seconds)."""
    cmd = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *tests]
    started = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=root, env=scratch_env(root), capture_output=True, text=True, timeout=TIMEOUT_S)
        code, text = out.returncode, out.stdout + out.stderr
    except subprocess.TimeoutExpired as e:
        code = None
        text = f"TIMEOUT after {TIMEOUT_S} s\n{(e.stdout or b'')!s}\n{(e.stderr or b'')!s}"
    seconds = time.perf_counter() - started
    log.write_text(f"$ cd {root} && PYTHONPATH={root} {' '.join(cmd)}\n\n{text}")
    return code, first_failure(text), seconds


def plant(bug: Bug, keep: bool) -> Result:
    original = check_anchor(bug)
    root = SCRATCH / bug.id
    fresh_copy(root)
    target = root / bug.file
    if target.read_text() != original:
        raise SystemExit(f"{bug.id}: the scratch copy of {bug.file} differs from the checkout's")
    planted = original.replace(bug.old, bug.new, 1)
    target.write_text(planted)
    assert target.read_text() != original
    check_code_under_test(root)
    log = SCRATCH / f"{bug.id}.log"
    code, failing, seconds = run_tests(root, bug.tests, log)
    outcome = {0: "SURVIVED", 1: "KILLED"}.get(code, "ERROR")
    if outcome == "ERROR":
        failing = "timeout" if code is None else f"pytest exit {code}" + (f": {failing}" if failing else "")
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return Result(bug.id, bug.kind, bug.file, bug.what, bug.old, bug.new, list(bug.tests), outcome, failing,
                  round(seconds, 1), code, bug.digest(), dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  str(log))


def control(bugs: list[Bug]) -> tuple[float, list[str]]:
    """Every test file the chosen bugs use, on an unplanted copy: they must pass."""
    tests = list(dict.fromkeys(t for b in bugs for t in b.tests))
    root = SCRATCH / "_control"
    fresh_copy(root)
    check_code_under_test(root)
    log = SCRATCH / "_control.log"
    code, failing, seconds = run_tests(root, tests, log)
    if code != 0:
        raise SystemExit(f"control run FAILED (exit {code}, first failure {failing or '-'}): the tests do not pass "
                         f"without a planted bug, so a kill would mean nothing. Log: {log}")
    shutil.rmtree(root, ignore_errors=True)
    return seconds, tests


# ------------------------------------------------------------------------------------------ report

DATA_START, DATA_END = "<!-- planted-bugs-data", "planted-bugs-data -->"


def load_previous() -> dict:
    if not REPORT.exists():
        return {}
    text = REPORT.read_text()
    m = re.search(re.escape(DATA_START) + r"\n(.*?)\n" + re.escape(DATA_END), text, re.S)
    return json.loads(m.group(1)) if m else {}


def cell(text: str) -> str:
    """Plain text for a table cell: one line, pipes escaped, no stray HTML tags (``pair:<attack>``)."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def code_cell(text: str) -> str:
    """A code span for a table cell: one line, pipes escaped, empty shown as (deleted)."""
    lines = [line.strip() for line in text.strip("\n").splitlines() if line.strip()]
    if not lines:
        return "*(line deleted)*"
    return "<br>".join("`" + line.replace("|", "\\|").replace("`", "'") + "`" for line in lines)


def git_head() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", "aad_lib", "tests"],
                           cwd=ROOT, capture_output=True, text=True)
    head = out.stdout.strip() or "unknown"
    changed = [line[3:] for line in dirty.stdout.splitlines() if line.strip()]
    if not changed:
        return f"`{head}`"
    shown = ", ".join(f"`{c}`" for c in changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f"`{head}` with uncommitted or untracked {shown}"


def write_report(results: dict[str, dict], meta: dict) -> None:
    order = [b.id for b in BUGS]
    rows = [results[i] for i in order if i in results]
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("KILLED", "SURVIVED", "ERROR")}
    lines = [
        "# Planted bugs of wrong science",
        "",
        "Generated by `mutation/planted_bugs.py`; do not edit by hand. Each row is one bug that the review of the "
        "issue \"Tests that catch wrong science\" planted by hand, replayed as an exact text replacement in a "
        "scratch copy of the project (`/tmp/planted/<id>/`), with the listed test files run there "
        "(`pytest " + PYTEST_SHOWN + "`). "
        "KILLED: a test failed (the first is named); SURVIVED: every test passed, the bug went unnoticed; "
        "ERROR: pytest could not run (collection error, timeout). Rerun everything with "
        "`.venv/bin/python mutation/planted_bugs.py`, one bug with `--only ID`.",
        "",
        f"**{counts['KILLED']} killed, {counts['SURVIVED']} survived, {counts['ERROR']} errors** of {len(rows)} "
        f"planted bugs. Code: {meta['head']}. Last run: {meta['run_at']}, {meta['scope']}, "
        f"{meta['seconds']:.0f} s in all (control run included). Control run (no bug planted, the same test "
        f"files): {meta['control']}.",
        "",
        "| bug | kind | file | what was changed | test files run | outcome | first failing test | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        change = f"{cell(r['what'])}: {code_cell(r['old'])} → {code_cell(r['new'])}"
        tests = "<br>".join(Path(t).name for t in r["tests"])
        failing = f"`{cell(r['first_failure'])}`" if r["first_failure"] else "—"
        lines.append(f"| `{r['id']}` | {cell(r['kind'])} | `{r['file']}` | {change} | {tests} | **{r['outcome']}** | "
                     f"{failing} | {r['seconds']:.0f} |")
    survivors = [r for r in rows if r["outcome"] != "KILLED"]
    lines += ["", "Not killed: " + (", ".join(f"`{r['id']}` ({r['outcome']})" for r in survivors) if survivors
                                     else "none."), ""]
    lines += [DATA_START, json.dumps({"meta": meta, "results": results}, indent=1, sort_keys=True), DATA_END, ""]
    REPORT.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", metavar="ID", help="plant only this bug (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the bugs and check their anchors; plant nothing")
    parser.add_argument("--skip-control", action="store_true", help="skip the control run on an unplanted copy")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies under /tmp/planted")
    args = parser.parse_args(argv)

    known = {b.id: b for b in BUGS}
    unknown = [i for i in args.only or [] if i not in known]
    if unknown:
        parser.error(f"unknown bug id(s) {unknown}; known: {', '.join(known)}")
    bugs = [known[i] for i in dict.fromkeys(args.only)] if args.only else list(BUGS)
    stale = []
    for bug in bugs:  # every anchor first: a stale one stops the run before anything is planted
        try:
            check_anchor(bug)
        except Stale as e:
            stale.append(str(e))
    if stale:
        print("STALE PLANTED BUGS (re-plant them by hand against the current code):", *stale, sep="\n\n",
              file=sys.stderr)
        return 2
    if args.list:
        for b in bugs:
            print(f"{b.id:28} {b.kind:20} {b.file:40} {', '.join(Path(t).name for t in b.tests)}")
        return 0

    SCRATCH.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.skip_control:
        control_text = "skipped"
    else:
        secs, tests = control(bugs)
        control_text = f"passed, {len(tests)} test files, {secs:.0f} s"
        print(f"control: passed ({secs:.0f} s)", flush=True)
    results: dict[str, dict] = {}
    previous = load_previous()
    if args.only:  # keep the other rows of the last run while their bugs are unchanged
        for i, r in previous.get("results", {}).items():
            if i in known and r.get("digest") == known[i].digest() and i not in args.only:
                results[i] = r
    for bug in bugs:
        r = plant(bug, args.keep)
        results[bug.id] = asdict(r)
        print(f"{bug.id:28} {r.outcome:9} {r.seconds:6.1f} s  {r.first_failure}", flush=True)
    total = time.perf_counter() - started
    meta = {"head": git_head(), "run_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "scope": "all bugs" if not args.only else f"rerun of {', '.join(args.only)} (other rows from earlier runs)",
            "seconds": total, "control": control_text}
    write_report(results, meta)
    print(f"total {total:.0f} s; report: {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
