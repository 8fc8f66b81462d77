"""One HTML page per executed notebook (``reports/notebooks/<name>.ipynb`` -> ``<name>.html``).

Rendered with nbconvert's ``lab`` template rather than Jupyter Book: nbconvert ships with
JupyterLab (already a dependency), renders a papermill-executed notebook as it stands (no book
configuration, no Sphinx build toolchain, no re-execution), and gives one file per notebook that,
beside the site's ``figures/`` folder and the lab stylesheet the pages share (``notebook.css``,
:func:`shared_stylesheet`), opens from ``file://`` as well as from any static server.

What the page changes against the executed notebook, so that it works offline and shows what the
notebook made:

- the template's scripts that load from a CDN (require.js, MathJax, Mermaid, the widget manager)
  are left out: the notebooks write no LaTeX, no diagram, and the page needs no script at all;
- widget views (tqdm's progress bars) fall back to their text, since no widget manager runs;
- a figure that the pipeline's non-interactive matplotlib backend left as ``<Figure size ...>``
  text is replaced by the PNG the same cell saved under ``reports/figures/``, shown from the site's
  copy of that folder (``figures/<name>.png``, a relative link: no second copy inside the page).
"""
from __future__ import annotations

import copy
import html
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from ..validation import AadError

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The PNG a cell saves: plots.save(fig, ctx.out / "figures" / "03_fig6_lambda_sweep.png")
SAVED_FIGURE = re.compile(r"""["'](\d\d_[\w.+-]+\.png)["']""")
# The lab template's own stylesheet (~260 KB, the same on every page), between the markers PAGE_TEMPLATE puts
# around it; the site keeps one copy of it in a file (:func:`shared_stylesheet`).
NOTEBOOK_CSS = re.compile(r"<!-- aad:notebook-css -->(.*?)<!-- /aad:notebook-css -->", re.DOTALL)
STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL)
FIGURE_TEXT = re.compile(r"^<Figure size [^>]*>$")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)

# The lab template without its CDN scripts, with the site's navigation above the notebook.
PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}<style type="text/css">{{ resources.aad_css }}</style>{%- endblock extra_css -%}
{%- block notebook_css -%}<!-- aad:notebook-css -->{{ super() }}<!-- /aad:notebook-css -->{%- endblock notebook_css -%}
{%- block body_header -%}{{ super() }}
{{ resources.aad_nav }}
{%- endblock body_header -%}
"""


def title_of(nb: NotebookNode, fallback: str) -> str:
    """The text of the notebook's first Markdown heading (``fallback`` when it has none)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := HEADING.search(cell.source)):
            return match.group(1).strip()
    return fallback


def figures_saved_by(source: str) -> list[str]:
    """The PNG file names a code cell's ``source`` saves, in order (``03_fig6_lambda_sweep.png``)."""
    return list(dict.fromkeys(SAVED_FIGURE.findall(source)))


def _is_figure_text(output: NotebookNode) -> bool:
    data = output.get("data", {})
    return set(data) == {"text/plain"} and bool(FIGURE_TEXT.match(str(data["text/plain"]).strip()))


def _has_image(outputs: list[NotebookNode]) -> bool:
    return any(key.startswith("image/") for o in outputs for key in o.get("data", {}))


def _image_output(name: str, folder: str) -> NotebookNode:
    src = html.escape(f"{folder}/{name}", quote=True)
    return nbformat.v4.new_output("display_data", data={
        "text/html": f'<img src="{src}" alt="{html.escape(name, quote=True)}" style="max-width: 100%; height: auto;">',
        "text/plain": f"<{name}>"}, metadata={})


def prepare(nb: NotebookNode, figures: str | Path, figures_href: str = "figures") -> NotebookNode:
    """A copy of the executed notebook ``nb`` ready for a static page: widget views reduced to
    their text, the notebook's widget state dropped, and each cell's ``<Figure ...>`` text replaced
    by the PNGs it saved under ``figures`` (appended when it printed none; a cell that already
    shows an image keeps its outputs), each an ``<img>`` of ``<figures_href>/<name>``, the page's
    link to the site's copy of the figure."""
    page = copy.deepcopy(nb)
    page.metadata.pop("widgets", None)
    for cell in page.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
        cell.outputs = [o for o in cell.get("outputs", []) if "data" not in o or o["data"]]  # a view with no text
        if _has_image(cell.outputs):
            continue
        images = [_image_output(name, figures_href) for name in figures_saved_by(cell.source)
                  if (Path(figures) / name).is_file()]
        if not images:
            continue
        outputs = []
        for output in cell.outputs:
            if _is_figure_text(output):
                if images:
                    outputs.append(images.pop(0))
                continue
            outputs.append(output)
        cell.outputs = outputs + images
    return page


def render(nb: NotebookNode, title: str, nav_html: str, css: str) -> str:
    """``nb`` as one HTML page (nbconvert's lab template, light theme, the notebook's own images
    embedded) titled ``title``, with ``nav_html`` above the notebook and ``css`` in its head."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    page = copy.copy(nb)
    page.metadata = copy.deepcopy(nb.metadata)
    page.metadata["title"] = title
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"aad_page.html.j2": PAGE_TEMPLATE})],
                            template_file="aad_page.html.j2")
    try:
        body, _ = exporter.from_notebook_node(page, resources={"aad_nav": nav_html, "aad_css": css})
    except Exception as err:  # nbconvert raises many kinds; name the notebook
        raise AadError(f"nbconvert could not render {title!r}: {type(err).__name__}: {err}") from err
    return body


def shared_stylesheet(page_html: str, href: str) -> tuple[str, str]:
    """Split a page from :func:`render` into the page linking the stylesheet ``href`` and the text of that
    stylesheet: the lab template's CSS, which every page would otherwise carry inline (~260 KB a page);
    written once per site, it is loaded once by the browser and stored once in git."""
    match = NOTEBOOK_CSS.search(page_html)
    if match is None:
        raise AadError("the rendered page has no notebook stylesheet block: the page template changed.")
    css = "\n".join(block.strip() for block in STYLE_BLOCK.findall(match.group(1))) + "\n"
    link = f'<link rel="stylesheet" type="text/css" href="{html.escape(href, quote=True)}">'
    return page_html[:match.start()] + link + page_html[match.end():], css
