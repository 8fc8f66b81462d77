"""The site's own stylesheet (plain CSS, small, inlined in every page): readable
tables, the four verdicts in colour and in words, and the navigation bar of the notebook pages."""

VERDICT_CLASS = {"holds": "v-holds", "does not hold": "v-fails", "not distinguishable": "v-open", "no verdict": "v-none"}

CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --band: #f6f8fa; --link: #0550ae;
        --holds: #1a7f37; --holds-bg: #dafbe1; --fails: #cf222e; --fails-bg: #ffebe9;
        --open: #7d4e00; --open-bg: #fff8c5; --none: #59636e; --none-bg: #eaeef2; }
.aad-index { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
             color: var(--ink); line-height: 1.5; margin: 0; }
.aad-index header, .aad-index main { max-width: 1200px; margin: 0 auto; padding: 0 1.5rem; }
.aad-index header { padding-top: 1.5rem; border-bottom: 1px solid var(--line); }
.aad-index h1 { font-size: 1.8rem; margin: 0 0 .3rem; }
.aad-index h2 { font-size: 1.35rem; margin-top: 2.2rem; border-bottom: 1px solid var(--line); padding-bottom: .3rem; }
.aad-index a { color: var(--link); }
.aad-index .lead { color: var(--muted); margin: 0 0 .8rem; }
.aad-index table { border-collapse: collapse; width: 100%; font-size: .92rem; margin: .6rem 0 1rem; }
.aad-index th, .aad-index td { border: 1px solid var(--line); padding: .35rem .55rem; text-align: left; vertical-align: top; }
.aad-index thead th { background: var(--band); position: sticky; top: 0; }
.aad-index tr.group th { background: var(--band); font-weight: 600; }
.aad-index td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.aad-index td.ours { font-variant-numeric: tabular-nums; }
.aad-index .verdict { font-weight: 600; white-space: nowrap; }
.aad-index .v-holds { color: var(--holds); background: var(--holds-bg); }
.aad-index .v-fails { color: var(--fails); background: var(--fails-bg); }
.aad-index .v-open { color: var(--open); background: var(--open-bg); }
.aad-index .v-none { color: var(--none); background: var(--none-bg); }
.aad-index .counts span { padding: .1rem .45rem; border-radius: .3rem; margin-right: .4rem; font-weight: 600; }
.aad-index .basis { color: var(--muted); font-size: .85rem; }
.aad-index dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
.aad-index dt { font-weight: 600; }
.aad-index dd { margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; }
.aad-index .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 1rem; }
.aad-index figure { margin: 0; border: 1px solid var(--line); padding: .5rem; background: #fff; }
.aad-index figure img { width: 100%; height: auto; display: block; }
.aad-index figcaption { font-size: .85rem; color: var(--muted); margin-top: .3rem; }
.aad-index ul.files { columns: 3 16rem; padding-left: 1.2rem; }
.aad-index footer { max-width: 1200px; margin: 2rem auto; padding: 0 1.5rem; color: var(--muted); font-size: .85rem; }
nav.aad-nav { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: .95rem;
              padding: .6rem 1rem; border-bottom: 1px solid #d1d9e0; background: #f6f8fa; }
nav.aad-nav a { color: #0550ae; margin-right: .9rem; }
nav.aad-nav a.current { font-weight: 700; color: #1f2328; text-decoration: none; }
"""
