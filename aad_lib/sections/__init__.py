"""One package per paper section, each holding that section's studies, tables, verdicts and plots:
what its notebooks call. A section imports the core (``aad_lib`` outside ``sections``) and never
another section; the core never imports a section (tests/test_layout.py)."""
