"""The benchmark's Markdown: ratios to the floor (lower is better, 1.00x is the floor itself),
min over repeats, with the seconds beside them."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aad_lib.files import atomic_write_text

START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PEERS = ("torchattacks", "ART", "hand-written")


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """Three tables: attacks and training (ours and the peers over the floor), batched training
    (models stacked against one at a time), and the robustness table (three ways of computing it,
    over the floor and over running the attacks one by one)."""
    batched = [r for r in rows if "models" in r]
    ops = [r for r in rows if "vs_one_by_one" not in r and "models" not in r]
    table = [r for r in rows if "vs_one_by_one" in r]
    peers = [p for p in PEERS if any(f"{p}_s" in r for r in ops)]
    lines = [_machine_line(machine), "", *headline(rows), "",
             "| model | batch | device | variant | operation | floor | ours | " + " | ".join(peers) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(peers)]
    for r in ops:
        cells = [r["model"], str(r["batch"]), r["device"], r["variant"], r["operation"], f"{r['floor_s']:.3f} s",
                 _ratio(r, "ours")] + [_ratio(r, p) for p in peers]
        lines.append("| " + " | ".join(cells) + " |")
    if batched:
        lines += ["", "| model | batch per model | device | batched train step | models | one at a time | stacked | "
                  "stacked speed-up |", "|---|---|---|---|---|---|---|---|"]
        for r in batched:
            if "stacked_s" not in r:
                lines.append(f"| {r['model']} | {r['batch']} | {r['device']} | {r['operation'].split(': ', 1)[1]} | "
                             f"{r['models']} | - | {r['stacked_note']} | - |")
                continue
            lines.append(f"| {r['model']} | {r['batch']} | {r['device']} | {r['operation'].split(': ', 1)[1]} | "
                         f"{r['models']} | {r['models_per_second_one_at_a_time']:.1f} models/s "
                         f"({r['one_at_a_time_s']:.3f} s) | {r['models_per_second_stacked']:.1f} models/s "
                         f"({r['stacked_s']:.3f} s) | {r['stacked_speedup']:.2f}x |")
    if table:
        lines += ["", "| model | images | robustness table, every column (Clean, FGSM, PGD-k, CW-k) | "
                  "seconds | over the floor | over one by one |", "|---|---|---|---|---|---|"]
        for r in table:
            lines.append(f"| {r['model']} | {r['batch']} | {r['operation'].split(': ', 1)[1]} | {r['ours_s']:.1f} | "
                         f"{r['ours_s'] / r['floor_s']:.2f}x | {r['vs_one_by_one']:.2f}x |")
    notes = sorted({r[k] for r in ops for k in r if k.endswith("_note")})
    lines += [""] + [f"- {n}" for n in notes]
    lines += ["", "Cells: time over the floor (the model's own forward+backward passes w.r.t. the input, "
              "as many as the operation needs at the least), min over repeats, seconds in brackets; "
              "medians in `bench.json`; the operations of one row group are timed round-robin in one loop. A training "
              "step also computes weight gradients and takes an optimiser step, which the input-only floor does not, "
              "so its ratio is above 1 even with nothing wasted. Batched training: one optimisation step of each "
              "model (its own batch and attack starts) one after another against one step of the same models stacked "
              "(`aad train --seeds`), as models per second; a speed-up below 1 means the stack is slower. "
              "Inputs are random images for the attack rows (speed does not "
              "depend on the weights), the bundled digits for the epoch and the table."]
    return "\n".join(lines).rstrip() + "\n"


def headline(rows: list[dict[str, Any]]) -> list[str]:
    """One bullet per PGD row (ours and the peers over the floor) and per robustness table (the
    stopping trajectory over the one-by-one runs)."""
    out = []
    for r in rows:
        if r["operation"].startswith("PGD-") and "CW" not in r["operation"] and "AT epoch" not in r["operation"]:
            peers = ", ".join(f"{p} {r[f'{p}_s'] / r['floor_s']:.2f}x" for p in PEERS if r.get(f"{p}_s"))
            out.append(f"- {r['model']} ({r['device']}, {r['variant']}), {r['operation']}: ours {r['ours_s'] / r['floor_s']:.2f}x "
                       f"the floor; {peers}.")
        elif r["operation"].endswith("AT epoch") or "AT epoch" in r["operation"]:
            out.append(f"- {r['operation']}: ours {r['ours_s']:.2f} s, hand-written loop {r['hand-written_s']:.2f} s "
                       f"(min of repeats; medians {r['ours_median_s']:.2f} s and {r['hand-written_median_s']:.2f} s).")
        elif r["operation"].startswith("batched train step") and "stacked_speedup" in r:
            out.append(f"- {r['models']} {r['model']} models ({r['device']}, batch {r['batch']} each), "
                       f"{r['operation']}: stacked {r['models_per_second_stacked']:.1f} models/s, one at a time "
                       f"{r['models_per_second_one_at_a_time']:.1f} models/s ({r['stacked_speedup']:.2f}x).")
        elif r["operation"] == "10-column table: trajectory + stop":
            out.append(f"- robustness table, {r['model']}: {r['ours_s']:.1f} s, {r['vs_one_by_one']:.2f}x the time of "
                       "running the attacks one by one.")
        elif r["operation"].startswith("10-column table: trajectory + stop,"):
            out.append(f"- robustness table, {r['model']}, {r['operation'].split(', ', 1)[1]}: {r['ours_s']:.1f} s, "
                       f"{r['vs_one_by_one']:.2f}x the time of running the attacks one by one.")
    return out


def _ratio(r: dict[str, Any], name: str) -> str:
    seconds = r.get(f"{name}_s")
    if seconds is None:
        return "-"
    return f"{seconds / r['floor_s']:.2f}x ({seconds:.3f} s)"


def _machine_line(m: dict[str, Any]) -> str:
    where = f"{m['gpu']} + " if m.get("gpu") else ""
    return (f"Measured {m['date']} on {where}{m['cpu']} ({m['cores']} cores, {m['torch_threads']} torch threads), "
            f"torch {m['torch']}, Python {m['python']}, {m['repeats']} repeats; regenerate with `aad bench`.")


def splice_readme(readme: Path, table: str) -> None:
    """Replace the text between the bench markers of ``readme`` with ``table``."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} markers to put the table between.")
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: f"{START}\n{table}{END}", text, flags=re.S)
    atomic_write_text(readme, new)
