"""aad_lib: attention- and compression-based adversarial defenses, reproducible.

Modules: ``data`` (datasets), ``models`` (registry), ``attacks``, ``losses``, ``training``,
``evaluation``, ``config`` (params.yaml and profiles), ``plots``, ``cli`` (the ``aad`` command).
"""
__version__ = "0.1.0"

from . import import_log as _import_log

_import_log.install()  # only with AAD_IMPORT_LOG set (the stage-dependency test)
