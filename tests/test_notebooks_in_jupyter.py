"""Every notebook opened the way JupyterLab opens it (`make lab`): a real Jupyter kernel of this
environment (``aad`` where `make setup` registered it) started in ``notebooks/`` of a copy of a
project that ran the smoke pipeline, every cell run in order. No cell may fail, and no output may
carry tqdm's "IProgress not found" warning (tqdm.auto prints it on import in a kernel without
ipywidgets); progress bars render as widgets. `make lab` itself serves the project with the
``aad`` kernel as default. The notebooks run from in-memory copies: nothing is written into
``notebooks/``."""
from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from aad_lib import notebooks

from .conftest import ROOT
from .project_copies import copy_project, project_env

pytestmark = pytest.mark.slow
WIDGET = "application/vnd.jupyter.widget-view+json"
# what tqdm.auto prints in a kernel without ipywidgets
WARNINGS = ("TqdmWarning", "IProgress not found")


@pytest.fixture(scope="module")
def project(smoke_project, tmp_path_factory) -> Path:
    return copy_project(smoke_project, tmp_path_factory.mktemp("jupyter") / "project")


# The attacks the notebooks run themselves, on fewer images and with fewer steps and draws than the
# smoke run (what is tested here is where and how a notebook runs, not its numbers, which
# tests/test_pipeline.py checks; evaluate.* stays: the notebooks read the pipeline's evaluation
# records). Notebook 05 takes 190 s instead of 340 s on this busy 2-core machine.
OVERRIDES = ["integrity.samples=10", "integrity.autoattack_steps=2", "compression.samples=10",
             "compression.audit.samples=5", "compression.steps=2", "compression.eot_samples=1", "compression.draws=1"]


def _with_overrides(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with a cell after its parameters cell that sets ``overrides``, as papermill injects one."""
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(f"overrides = {OVERRIDES!r}"))
    return nb


def _text(output: nbformat.NotebookNode) -> str:
    """Everything a reader sees of one output: its stream text, its plain-text data, its traceback."""
    data = output.get("data", {})
    return "\n".join([output.get("text", ""), str(data.get("text/plain", "")), "\n".join(output.get("traceback", []))])


def _execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str]) -> list[nbformat.NotebookNode]:
    """Run every cell of ``nb`` (in place, in memory) in a fresh kernel of this environment started in
    ``cwd``, as JupyterLab starts one; return the code cells' outputs."""
    client = NotebookClient(nb, kernel_name=notebooks.kernel_name(), timeout=900,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(cwd=str(cwd), env={k: v for k, v in env.items() if k != "MPLBACKEND"})  # inline figures
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def test_every_notebook_runs_in_a_kernel_started_in_the_notebooks_folder(project, tmp_path):
    folder = project / "notebooks"
    names = notebooks.names(project)
    assert len(names) == 5, names
    seconds: dict[str, float] = {}
    try:
        for name in names:
            nb = _with_overrides(nbformat.read(folder / f"{name}.ipynb", as_version=4))
            start = time.perf_counter()
            try:
                outputs = _execute(nb, folder, project_env(project))
            except CellExecutionError as err:
                nbformat.write(nb, tmp_path / f"{name}.ipynb")
                raise AssertionError(f"{name} failed in a kernel started in notebooks/ (executed copy: "
                                     f"{tmp_path / name}.ipynb):\n{err}") from err
            seconds[name] = round(time.perf_counter() - start, 1)
            for output in outputs:
                assert not any(w in _text(output) for w in WARNINGS), (
                    f"{name}: {_text(output)[:300]!r} (ipywidgets missing? run `make setup`)")
            assert any("working directory: " in _text(o) for o in outputs), f"{name} did not move to the project root"
    finally:
        print("seconds per notebook:", seconds)


def test_progress_bars_render_as_widgets_in_the_kernel(tmp_path):
    """tqdm.auto, as the library's loops use it, draws a widget in this environment's kernel (with
    ipywidgets installed) and warns nowhere."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='evaluate', disable=None, leave=False):\n    pass")])
    outputs = _execute(nb, tmp_path, dict(os.environ))
    assert any(WIDGET in o.get("data", {}) for o in outputs), outputs
    assert not any(w in _text(o) for o in outputs for w in WARNINGS), outputs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str, str]:
    """Status, final URL and body of ``url`` (redirects followed)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.url, response.read().decode()


def test_make_lab_opens_the_project_with_its_kernel(tmp_path):
    """`make lab`'s own command (read with `make -n`), started headless: JupyterLab serves the
    project root, opens on notebooks/, and new notebooks get the project's kernel."""
    # --no-print-directory: under `make test` this make is a sub-make and would add "Leaving directory" lines
    out = subprocess.run(["make", "--no-print-directory", "-n", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    lines = [line for line in out.replace("\\\n", " ").splitlines() if "jupyter" in line and " lab " in line]
    assert len(lines) == 1, out
    command = shlex.split(lines[0])
    assert "jupyter" in command[command.index("lab") - 1], command
    port, token = _free_port(), "aad-test"
    extra = ["--no-browser", f"--port={port}", f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--allow-root")
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(command + extra, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "lab.log").read_text()[-2000:]
                time.sleep(1)
        status, url, _ = _get(f"{base}/?token={token}")
        assert status == 200 and urllib.parse.urlparse(url).path == "/lab/tree/notebooks", url
        specs = json.loads(_get(f"{base}/api/kernelspecs?token={token}")[2])
        assert specs["default"] == "aad" and "aad" in specs["kernelspecs"], specs
        kernel_python = Path(specs["kernelspecs"]["aad"]["spec"]["argv"][0])
        assert kernel_python.parent == Path(sys.executable).parent, "kernel 'aad' is not this environment's"
        listing = json.loads(_get(f"{base}/api/contents/notebooks?token={token}")[2])
        assert {f"{name}.ipynb" for name in notebooks.names(ROOT)} <= {item["name"] for item in listing["content"]}
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        assert nbformat.read(path, as_version=4).metadata["kernelspec"]["name"] == "aad", path.name
