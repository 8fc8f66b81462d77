"""aad_lib: attention- and compression-based adversarial defenses, reproducible.

Modules: ``data`` (datasets), ``models`` (registry), ``attacks``, ``losses``, ``training``,
``evaluation``, ``config`` (params.yaml and profiles), ``plots``, ``cli`` (the ``aad`` command).
"""
__version__ = "0.1.0"
