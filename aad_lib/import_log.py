"""Which ``aad_lib`` modules a process imported, for the test that DVC's stages depend on exactly
the code they run (tests/test_stage_dependencies.py). With ``AAD_IMPORT_LOG=<folder>`` set, every
process that imports ``aad_lib`` (an ``aad`` command, or the Jupyter kernel papermill starts for a
notebook) writes ``<folder>/<pid>.json`` at exit: its command line, its parent's pid and the
sorted ``aad_lib`` module names. Nothing happens without the variable."""
from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

VARIABLE = "AAD_IMPORT_LOG"


def _write(folder: Path) -> None:
    modules = sorted(name for name in sys.modules if name == "aad_lib" or name.startswith("aad_lib."))
    record = {"argv": sys.argv, "pid": os.getpid(), "ppid": os.getppid(), "modules": modules}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{os.getpid()}.json").write_text(json.dumps(record))


def install() -> None:
    """Register the exit hook when ``AAD_IMPORT_LOG`` names a folder."""
    folder = os.environ.get(VARIABLE)
    if folder:
        atexit.register(_write, Path(folder))
