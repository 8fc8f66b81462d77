"""The README's results cannot drift from the run: its generated block equals the committed
``reports/results.md``, and that file equals what :mod:`aad_lib.site.results_summary` writes from the
committed tables now (so neither a hand edit of the README nor a table committed without rebuilding
the site passes)."""
from __future__ import annotations

import pytest

from aad_lib import config
from aad_lib.site.claims import read_claims
from aad_lib.site.readme_block import readme_block
from aad_lib.site.results_summary import results_markdown

from .conftest import ROOT

REPORTS = ROOT / "reports"


@pytest.fixture(scope="module")
def committed() -> str:
    path = REPORTS / "results.md"
    assert path.is_file(), ("reports/results.md is not in the repository: commit the default run's reports/ "
                            "(`make all`, then git add reports dvc.lock README.md)")
    return path.read_text()


def test_readme_block_is_the_committed_results_section(committed: str) -> None:
    assert readme_block((ROOT / "README.md").read_text()) == committed, (
        "README.md's results block differs from reports/results.md: run `make readme` (`aad readme`)")


def test_committed_results_section_is_what_the_committed_tables_give(committed: str) -> None:
    params = config.load_params(ROOT / "params.yaml", [])
    assert params.profile == "default", "the committed results are the default profile's"
    claims = read_claims(REPORTS / "tables", [params.attention.pgd_column, params.attention.cw_column])
    assert results_markdown(REPORTS, claims, params.profile) == committed, (
        "reports/results.md is stale against reports/tables: rerun the site stage (`dvc repro site`) and `make readme`")
