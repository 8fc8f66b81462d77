"""The browsable report of a finished run (``aad site``, the DVC stage ``site``): a static site under
``reports/site/`` with one HTML page per executed notebook and an index holding the verdict of every
paper claim the tables answer, linked to the notebook section that shows it, and the run's manifest.

Everything is read from what the pipeline wrote (tables, figures, executed notebooks, evaluation
timings, training logs): the site retypes no number. It is core code: it reads the sections' tables
as files and imports no section module.
"""
