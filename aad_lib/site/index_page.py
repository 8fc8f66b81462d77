"""The report's index page: the verdict of every paper claim the tables answer (grouped by the
notebook section that shows it, each row linked there), the notebooks' other answers, the pages,
figures and tables of the run, and its manifest. Plain HTML and CSS, no script."""
from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..validation import AadError
from .claims import Claim
from .manifest import Manifest
from .notebook_sections import Answer, Section
from .style import CSS, VERDICT_CLASS
from .verdict_rules import VERDICTS

RULES = ("A claim about training methods or trained defenses is read from a 95% two-level bootstrap interval over "
         "training runs and test images: it holds when the whole interval lies on the paper's side of zero, does not "
         "hold when it lies on the other side, and is not distinguishable when it holds zero; with fewer than three "
         "training runs of an arm, or an interval over test images only, there is no verdict. A test within one "
         "network holds at p < 0.05 in the paper's direction. Our numbers come from this run's profile and data, "
         "not the paper's: compare directions and gaps, not absolute accuracies. On one host the pipeline is "
         "deterministic (bit-identical reruns); another CPU or any GPU trains other networks, so these numbers are "
         "one run of several possible, and a verdict may move between decisive and not distinguishable where the "
         "effect sits at the edge of its interval (`aad rerun-check` compares two runs). The rules and their "
         "references: docs/validation.md.")


@dataclass(frozen=True)
class PageEntry:
    """A notebook page of the site: notebook name, title, file name, papermill seconds (None when
    the notebook records none)."""

    name: str
    title: str
    href: str
    seconds: float | None


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _link(href: str, text: str) -> str:
    return f'<a href="{_e(href)}">{_e(text)}</a>'


def _section_of(claim: Claim, sections: Mapping[str, Section]) -> Section:
    if claim.table not in sections:
        raise AadError(f"no notebook section writes table {claim.table!r} (sections found for: "
                       f"{', '.join(sorted(sections)) or 'none'}); the claim {claim.claim!r} cannot be linked.")
    return sections[claim.table]


def _verdict_cell(verdict: str) -> str:
    if verdict not in VERDICT_CLASS:
        raise AadError(f"unknown verdict {verdict!r}; valid: {', '.join(VERDICTS)}.")
    return f'<td class="verdict {VERDICT_CLASS[verdict]}">{_e(verdict)}</td>'


def verdict_table(claims: Sequence[Claim], sections: Mapping[str, Section]) -> str:
    """The verdict table: one row per claim (work, claim, paper, ours, verdict, the section link,
    the source table), a group row per notebook section."""
    rows, group = [], None
    for claim in claims:
        section = _section_of(claim, sections)
        if section != group:
            group = section
            rows.append(f'<tr class="group"><th colspan="6">{_link(section.href, f"{section.notebook} · {section.title}")}'
                        "</th></tr>")
        rows.append("<tr>"
                    f"<td>{_e(claim.work)}</td>"
                    f"<td>{_e(claim.claim)}</td>"
                    f'<td class="num">{_e(claim.paper)}</td>'
                    f'<td class="ours">{_e(claim.ours)}</td>'
                    + _verdict_cell(claim.verdict)
                    + f'<td>{_link(section.href, "notebook")} · {_link(f"tables/{claim.table}.csv", claim.table)}'
                    f'<div class="basis">{_e(claim.basis)}</div></td>'
                    "</tr>")
    widths = "".join(f'<col style="width: {w}%">' for w in (7, 27, 12, 25, 11, 18))
    head = (f"<colgroup>{widths}</colgroup><thead><tr><th>Paper</th><th>Claim</th><th>Paper's number</th><th>Ours [interval]</th>"
            "<th>Verdict</th><th>Shown in · evidence</th></tr></thead>")
    return f'<table class="verdicts">{head}<tbody>{"".join(rows)}</tbody></table>'


def verdict_counts(claims: Sequence[Claim]) -> str:
    """One line: how many claims hold, do not hold, are not distinguishable."""
    parts = [f'<span class="{VERDICT_CLASS[v]}">{sum(c.verdict == v for c in claims)} {_e(v)}</span>' for v in VERDICTS]
    return f'<p class="counts">{len(claims)} claims: {"".join(parts)}</p>'


def other_answers(answers: Sequence[Answer], claims: Sequence[Claim], sections: Mapping[str, Section]) -> str:
    """The answers the notebooks state in sections without a row in the verdict table (claims
    answered by a point estimate or a picture, with no interval to read a verdict from)."""
    covered = {_section_of(c, sections) for c in claims}
    items = [f"<li>{_link(a.section.href, f'{a.section.notebook} · {a.section.title}')}: {_e(a.label)}</li>"
             for a in answers if a.section not in covered]
    if not items:
        return ""
    return ("<h3>Answered in the notebooks without an interval</h3><p>These answers rest on point estimates or "
            "pictures, with no interval to read a verdict from; the notebook states each with its numbers.</p>"
            f"<ul>{''.join(items)}</ul>")


def _seconds(value: float | None) -> str:
    if value is None:
        return "not recorded"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)} min {seconds:.0f} s" if minutes else f"{seconds:.1f} s"


def notebook_list(pages: Sequence[PageEntry]) -> str:
    """The notebook pages with papermill's run time of each."""
    rows = "".join(f"<tr><td>{_link(p.href, p.title)}</td><td class=\"num\">{_seconds(p.seconds)}</td></tr>"
                   for p in pages)
    return f"<table><thead><tr><th>Notebook</th><th>Run time (papermill)</th></tr></thead><tbody>{rows}</tbody></table>"


def figure_gallery(figures: Sequence[str]) -> str:
    """Every figure of the run (``figures/<name>``), each linked to its full size."""
    items = "".join(f'<figure><a href="figures/{_e(name)}"><img src="figures/{_e(name)}" alt="{_e(name)}"></a>'
                    f"<figcaption>{_e(name)}</figcaption></figure>" for name in figures)
    return f'<div class="figures">{items}</div>'


def table_list(tables: Sequence[str]) -> str:
    """Every table of the run, as CSV and Markdown (``tables/<stem>.csv|md``)."""
    items = "".join(f"<li>{_e(stem)}: {_link(f'tables/{stem}.csv', 'csv')} · {_link(f'tables/{stem}.md', 'md')}</li>"
                    for stem in tables)
    return f'<ul class="files">{items}</ul>'


def manifest_block(manifest: Manifest) -> str:
    """The manifest: commit, profile, Python and package versions, devices, CPU and GPU, the wall
    time per stage kind and per stage."""
    facts = {"commit": manifest.commit, "profile": manifest.profile, "built": manifest.built,
             "python": manifest.python, **manifest.packages,
             "stage devices": ", ".join(manifest.devices) or "no evaluation timing found",
             "CPU (this machine)": manifest.cpu, "GPU (this machine)": manifest.gpu}
    listing = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts.items())
    totals = "".join(f'<tr><td>{_e(kind)}</td><td class="num">{_seconds(s)}</td>'
                     f'<td class="num">{sum(t.kind == kind for t in manifest.stages)}</td></tr>'
                     for kind, s in manifest.totals().items())
    stages = "".join(f'<tr><td>{_e(t.kind)}</td><td>{_e(t.name)}</td><td class="num">{_seconds(t.seconds)}</td>'
                     f"<td>{_e(t.detail)}</td><td>{_e(t.source)}</td></tr>" for t in manifest.stages)
    return (f"<dl>{listing}</dl>"
            "<h3>Wall time per stage</h3>"
            f'<table><thead><tr><th>Stage kind</th><th>Total</th><th>Stages</th></tr></thead><tbody>{totals}</tbody></table>'
            "<details><summary>Every stage</summary><table><thead><tr><th>Kind</th><th>Run</th><th>Wall time</th>"
            f"<th>Detail</th><th>Read from reports/</th></tr></thead><tbody>{stages}</tbody></table></details>")


def index_html(claims: Sequence[Claim], sections: Mapping[str, Section], answers: Sequence[Answer],
               pages: Sequence[PageEntry], figures: Sequence[str], tables: Sequence[str], manifest: Manifest) -> str:
    """The whole index page."""
    title = f"AAD companion: the run's report (profile {manifest.profile})"
    nav = " · ".join(_link(f"#{anchor}", text) for anchor, text in (
        ("verdicts", "Verdicts"), ("notebooks", "Notebooks"), ("figures", "Figures"), ("tables", "Tables"),
        ("manifest", "Run manifest")))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{CSS}</style>
</head>
<body class="aad-index">
<header>
<h1>{_e(title)}</h1>
<p class="lead">Every number below is read from this run's tables, evaluations and executed notebooks.
Built {_e(manifest.built)}; commit: {_e(manifest.commit)}.</p>
<nav>{nav}</nav>
</header>
<main>
<section id="verdicts">
<h2>Verdicts of the paper claims</h2>
{verdict_counts(claims)}
<p class="basis">{_e(RULES)}</p>
{verdict_table(claims, sections)}
{other_answers(answers, claims, sections)}
</section>
<section id="notebooks"><h2>Notebooks</h2>{notebook_list(pages)}</section>
<section id="figures"><h2>Figures</h2>{figure_gallery(figures)}</section>
<section id="tables"><h2>Tables</h2>{table_list(tables)}</section>
<section id="manifest"><h2>Run manifest</h2>{manifest_block(manifest)}</section>
</main>
<footer>Generated by <code>aad site</code> (the DVC stage <code>site</code>) from <code>reports/</code>.</footer>
</body>
</html>
"""
