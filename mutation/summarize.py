"""Summarise a mutmut run (`make mutate`) into ``mutation/README.md``.

Reads mutmut's per-file result records (``mutants/**/*.py.meta``), counts each mutant's outcome per
module, and lists every mutant the tests did not kill with its diff and its reason from
``mutation/reasons.yaml``: ``equivalent`` (no test can tell it from the original: excluded from the
score's denominator, with the argument why) or ``untested`` (a real gap: a test still to write).
A survivor without an entry is listed as ``unexplained``; an entry whose recorded mutated line no
longer matches the mutant (the code moved on) is reported as stale, so reasons cannot silently
drift onto other mutants.

Usage (from the project root, after ``mutmut run``)::

    python mutation/summarize.py [--out mutation/README.md] [--before mutation/before.json]

``--before`` names a JSON file of per-module counts saved by an earlier run (``--save-counts``),
to print the before/after table.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def results(mutants_dir: Path) -> dict[str, str]:
    """``{mutant name: status}`` from every ``*.py.meta`` under ``mutants_dir``."""
    from mutmut.stats import status_by_exit_code  # mutmut's own reading of its exit codes

    out: dict[str, str] = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            out[name] = status_by_exit_code[code]
    return out


def module_of(name: str) -> str:
    """``aad_lib.losses.x_logit_pairing__mutmut_3`` -> ``aad_lib.losses``."""
    head = name.split("__mutmut_")[0]
    parts = head.split(".")
    while parts and (parts[-1].startswith("x_") or parts[-1].startswith("x\u01c1")):
        parts.pop()
    return ".".join(parts)


def function_of(name: str) -> str:
    """The mutated function (or ``Class.method``) of a mutant name."""
    head = name.split("__mutmut_")[0]
    tail = head[len(module_of(name)) + 1:]
    return tail.replace("x\u01c1", "").replace("\u01c1", ".").removeprefix("x_")


def counts_by_module(status: dict[str, str], equivalent: set[str]) -> tuple[dict[str, dict[str, int]], Counter]:
    """Killed / equivalent / not killed per module, and their sum over modules."""
    table: dict[str, Counter] = defaultdict(Counter)
    for name, s in status.items():
        row = table[module_of(name)]
        row["total"] += 1
        if name in equivalent and s not in KILLED:
            row["equivalent"] += 1
        elif s in KILLED:
            row["killed"] += 1
        else:
            row["not killed"] += 1
    total = sum(table.values(), Counter())
    return {m: dict(c) for m, c in sorted(table.items())}, total


def save_counts(path: str | None, counts: dict[str, dict[str, int]], total: Counter) -> None:
    if path:
        Path(path).write_text(json.dumps({"modules": counts, "total": dict(total)}, indent=1) + "\n")


def score(row: dict[str, int]) -> float:
    """Killed / (total - equivalent), in %."""
    denominator = row.get("total", 0) - row.get("equivalent", 0)
    return 100.0 * row.get("killed", 0) / denominator if denominator else float("nan")


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson interval of a proportion, in % (for a score measured on a random sample)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)


def reasons_for(names: list[str], reasons: dict[str, dict]) -> dict[str, dict]:
    """Each name's reason: an exact entry first, else the first matching glob entry."""
    out = {}
    globs = [(k, v) for k, v in reasons.items() if any(c in k for c in "*?[")]
    for name in names:
        if name in reasons:
            out[name] = reasons[name]
        else:
            out[name] = next((v for k, v in globs if fnmatch.fnmatchcase(name, k)), {})
    return out


def mutated_lines(diff: str) -> list[str]:
    return [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]


def load_reasons(path: Path) -> dict[str, dict]:
    """``mutation/reasons.yaml`` plus any ``reasons_*.yaml`` beside it (one file per module group)."""
    merged: dict[str, dict] = {}
    for file in [path, *sorted(path.parent.glob("reasons_*.yaml"))]:
        if file.exists():
            merged.update(yaml.safe_load(file.read_text()) or {})
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", default=str(ROOT / "mutants"))
    parser.add_argument("--also", action="append", default=[],
                        help="another run's mutants folder: its results fill mutants this run did not check")
    parser.add_argument("--reasons", default=str(ROOT / "mutation" / "reasons.yaml"))
    parser.add_argument("--out", default=str(ROOT / "mutation" / "README.md"))
    parser.add_argument("--before", help="per-module counts of an earlier run (JSON from --save-counts)")
    parser.add_argument("--save-counts", help="write this run's per-module counts here (JSON)")
    parser.add_argument("--command", default="make mutate", help="the command quoted in the report")
    parser.add_argument("--sample", help="JSON list of mutant names: the score is measured on these (a random "
                                         "sample) when not every mutant was checked")
    parser.add_argument("--counts-only", action="store_true", help="print the counts, write no report")
    parser.add_argument("--note", action="append", default=[], help="a paragraph for the report's header")
    args = parser.parse_args()
    for key in ("mutants", "reasons", "out", "before", "save_counts", "sample"):  # before any chdir below
        if getattr(args, key):
            setattr(args, key, str(Path(getattr(args, key)).resolve()))
    args.also = [str(Path(other).resolve()) for other in args.also]

    status = results(Path(args.mutants))
    for other in args.also:
        for name, s in results(Path(other)).items():
            if status.get(name, "not checked") == "not checked" and s != "not checked":
                status[name] = s
    if not status:
        raise SystemExit(f"no mutmut results under {args.mutants}; run `make mutate` first.")
    checked = {n: s for n, s in status.items() if s != "not checked"}
    scored = checked
    if args.sample:
        wanted = json.loads(Path(args.sample).read_text())
        wanted = wanted["names"] if isinstance(wanted, dict) else wanted
        missing = [n for n in wanted if status.get(n, "not checked") == "not checked"]
        if missing:
            raise SystemExit(f"{len(missing)} sampled mutants were not checked (e.g. {missing[0]}).")
        scored = {n: status[n] for n in wanted}
    elif len(checked) < len(status):
        raise SystemExit(f"{len(status) - len(checked)} mutants were not checked; finish `mutmut run` or pass --sample.")
    if args.counts_only:
        counts, total = counts_by_module(scored, set())
        low, high = wilson(total["killed"], total["total"])
        print(json.dumps({"modules": counts, "total": dict(total)}, indent=1))
        print(f"score {score(dict(total)):.1f}% (95% Wilson interval {low:.1f}-{high:.1f}%) of {total['total']} mutants")
        save_counts(args.save_counts, counts, total)
        return
    survivors = sorted(n for n, s in checked.items() if s not in KILLED)
    why = reasons_for(survivors, load_reasons(Path(args.reasons)))

    os.chdir(Path(args.mutants).parent)  # mutmut's helpers read its config relative to the project
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    diffs, stale = {}, []
    for name in survivors:
        try:
            diffs[name] = get_diff_for_mutant(name)
        except Exception as error:  # a mutant of a function that no longer exists
            diffs[name] = f"(diff unavailable: {error})"
        expected = why[name].get("line")
        if expected and expected.strip() not in mutated_lines(diffs[name]):
            stale.append(name)
    equivalent = {n for n in survivors if why[n].get("kind") == "equivalent" and n not in stale}
    counts, total = counts_by_module(scored, equivalent)
    save_counts(args.save_counts, counts, total)
    before = json.loads(Path(args.before).read_text()) if args.before else None
    denominator = total["total"] - total["equivalent"]
    low, high = wilson(total["killed"], denominator)
    kinds = Counter(("stale" if n in stale else why[n].get("kind", "unexplained")) for n in survivors)

    lines = ["# Mutation testing", "",
             "Generated by `mutation/summarize.py` from the mutmut results; do not edit by hand. "
             "Tool: [mutmut](https://github.com/boxed/mutmut) 3.8.1 (why mutmut: see the end). Scope and "
             "settings: `[tool.mutmut]` in `pyproject.toml`; run everything with `" + args.command + "`. "
             "Score = killed / (mutants - equivalent mutants); a mutant no test reaches counts as not killed.", ""]
    lines += [*(f"{note}\n" for note in args.note)]
    sample_words = (f"on a random sample of {total['total']} of the {len(status)} mutants"
                    if args.sample else f"on all {len(status)} mutants")
    lines += [f"**Score {sample_words}: {score(dict(total)):.1f}%** (95% Wilson interval {low:.1f}-{high:.1f}%; "
              f"{total['killed']} killed, {total['equivalent']} equivalent, {total['not killed']} not killed). "
              f"Mutants checked in all: {len(checked)} of {len(status)}; not killed among them: {len(survivors)} "
              f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}).", ""]
    header = "| module | mutants | killed | equivalent | not killed | score |"
    sep = "|---|---|---|---|---|---|"
    if before:
        header += " score before |"
        sep += "---|"
    lines += [header, sep]
    for module, row in [*counts.items(), ("**all**", dict(total))]:
        cells = [module, row.get("total", 0), row.get("killed", 0), row.get("equivalent", 0), row.get("not killed", 0),
                 f"{score(row):.1f}%"]
        if before:
            old = before["total"] if module == "**all**" else before["modules"].get(module)
            cells.append(f"{score(old):.1f}%" if old else "")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if stale:
        lines += ["", f"**Stale reasons** ({len(stale)}): the recorded line no longer matches the mutant; "
                  "re-check them in `mutation/reasons*.yaml`: " + ", ".join(f"`{n}`" for n in stale)]
    lines += ["", "## Every checked mutant that was not killed", "",
              "Kinds: **equivalent** (no test can tell it from the original; the reason says why), **untested** "
              "(a test still to write, or one that needs hardware CI lacks), **unexplained** (not yet looked at). "
              "Each line: the mutant, its status, its kind, the mutated line, the reason.", ""]
    by_module: dict[str, list[str]] = defaultdict(list)
    for name in survivors:
        by_module[module_of(name)].append(name)
    for module, names in by_module.items():
        lines += [f"### {module}", ""]
        for name in names:
            entry = why[name]
            kind = entry.get("kind", "unexplained") if name not in stale else "stale"
            changed = "; ".join(mutated_lines(diffs[name])) or diffs[name].strip().splitlines()[-1]
            lines.append(f"- `{name.split('.')[-1]}` ({status[name]}, **{kind}**): `{changed}`"
                         + (f" — {entry['why']}" if entry.get("why") else ""))
        lines.append("")
    lines += ["## Why mutmut", "",
              "mutmut 3 records which tests reach each function and runs only those for a mutant of it, "
              "forking workers from a process that has already imported torch and collected the tests "
              "(`process_isolation = \"forkserver\"`): a mutant costs seconds here instead of the suite's "
              "minutes. Cosmic Ray runs a whole test command per mutant (no per-function test selection), "
              "which at this suite's start-up cost would take days on two cores.", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"score {score(dict(total)):.1f}% [{low:.1f}, {high:.1f}] ({total['killed']}/{denominator}); "
          f"{len(survivors)} not killed of {len(checked)} checked ({dict(kinds)}) -> {args.out}")


if __name__ == "__main__":
    main()
