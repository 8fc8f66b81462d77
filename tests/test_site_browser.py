"""The report site of the smoke pipeline (its `site` stage) in a real headless browser: Debian's
Chromium through Playwright (`make test` installs both; `playwright install` is never used). The
index and every notebook page load with no console error and no request leaving file://, every
image has loaded (naturalWidth > 0), every local link resolves (the file exists, the anchor is on
the page), and the verdict table has rows. A screenshot of the index is kept beside it."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from aad_lib.site import browser
from aad_lib.site.verdict_rules import VERDICTS

from .conftest import run_command

# What the page hands back after loading: its images, its links (resolved by the browser) and its ids.
PAGE_FACTS = """() => ({
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth, complete: i.complete})),
  links: [...document.querySelectorAll("a[href]")].map(a => ({raw: a.getAttribute("href"), href: a.href})),
  ids: [...document.querySelectorAll("[id]")].map(e => e.id),
  verdicts: [...document.querySelectorAll("table.verdicts tbody tr:not(.group) td.verdict")].map(td => td.textContent.trim()),
  // the shared lab stylesheet (notebook.css) applied: it sets .jp-InputArea's overflow (default "visible")
  inputOverflow: (e => e ? getComputedStyle(e).overflow : null)(document.querySelector(".jp-InputArea")),
})"""


def visit(context, url: str) -> dict:
    """Open ``url`` in a new tab; its facts, console errors and uncaught page errors."""
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="load")
    facts = page.evaluate(PAGE_FACTS)
    page.close()
    return {**facts, "errors": errors}


def file_of(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


@pytest.mark.slow
def test_the_report_site_works_in_a_real_browser(smoke_project):
    from playwright.sync_api import sync_playwright

    site = smoke_project / "reports" / "site"
    index = site / "index.html"
    assert index.is_file(), "the site stage wrote no reports/site/index.html"
    notebook_pages = sorted(site.glob("[0-9][0-9]_*.html"))
    executed = sorted((smoke_project / "reports" / "notebooks").glob("*.ipynb"))
    assert [p.stem for p in notebook_pages] == [p.stem for p in executed], "one page per executed notebook"

    outside: list[str] = []

    def local_only(route) -> None:
        """Nothing may load from the network: a request must stay on file:// (or be inline data)."""
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            context = chromium.new_context(viewport=browser.VIEWPORT)
            context.route("**/*", local_only)
            visited = {path.as_uri(): visit(context, path.as_uri()) for path in [index, *notebook_pages]}
        finally:
            chromium.close()

    assert not outside, f"requests left file://: {outside}"
    problems = []
    for url, facts in visited.items():
        name = file_of(url).name
        problems += [f"{name}: console error: {e}" for e in facts["errors"]]
        problems += [f"{name}: image not loaded: {i['src'][:80]}" for i in facts["images"]
                     if not (i["complete"] and i["width"] > 0)]
        for link in facts["links"]:
            target, fragment = urldefrag(link["href"])
            if not target.startswith("file:"):
                continue  # an external link in a notebook's text: shown, not followed
            path = file_of(target)
            if not path.is_file():
                problems.append(f"{name}: link {link['raw']!r} -> missing file {path}")
            elif fragment:
                ids = visited[target]["ids"] if target in visited else None
                if ids is None:
                    problems.append(f"{name}: link {link['raw']!r} has an anchor into a page that is not part of the site")
                elif fragment not in ids and unquote(fragment) not in ids:
                    problems.append(f"{name}: link {link['raw']!r} -> no element with id {fragment!r} in {path.name}")
    assert not problems, "\n".join(problems)

    home = visited[index.as_uri()]
    assert home["verdicts"], "the verdict table has no row"
    assert set(home["verdicts"]) <= set(VERDICTS)
    assert len(home["images"]) >= len(list((smoke_project / "reports" / "figures").glob("*.png")))
    section_links = {urljoin(index.as_uri(), link["raw"]) for link in home["links"] if ".html#" in link["raw"]}
    assert {file_of(urldefrag(u)[0]).name for u in section_links} >= {"02_guided_dropout.html", "03_adaptive_weighting.html",
                                                                        "04_attention_rectification.html",
                                                                        "05_compression_defenses.html"}
    for page in notebook_pages:
        assert visited[page.as_uri()]["images"], f"{page.name} shows no figure"
        assert visited[page.as_uri()]["inputOverflow"] == "hidden", f"{page.name}: the shared notebook.css is not applied"

    shot = browser.screenshot(index, site / "screenshot.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the screenshot is beside the stage's output (.dvcignore), not a change to it
    status = run_command(["dvc", "status", "site"], smoke_project)
    assert "up to date" in status.stdout, status.stdout
