"""The benchmarks' clock is the library's (:mod:`aad_lib.timing`), shared with ``aad plan``."""
from aad_lib.timing import Timing, measure, measure_together

__all__ = ["Timing", "measure", "measure_together"]
