"""traffic: flows on a fabric, the max-min contention engine, step schedules, traffic patterns.

Public names:
- :func:`maxmin_rates`: progressive filling on a sparse flows x links incidence.
- :class:`Flow`, :func:`simulate`, :func:`simulate_arrays`, :class:`SimResult`: dependency mode (exact).
- :class:`Step`, :func:`simulate_steps`, :class:`StepResult`: bulk-synchronous step mode (memoised).
- :mod:`traffic.patterns`: ring, permutation, all_to_all, incast, tornado, bit_reversal.
- :func:`run_pattern`, :class:`PatternReport`, :func:`format_report`, :func:`hottest_links`,
  :func:`plot_utilisation`: what ``scaleup traffic`` runs and prints.
"""

from . import patterns
from .engine import EngineStallError, Flow, SimResult, simulate, simulate_arrays
from .maxmin import HAVE_NUMBA, maxmin_rates
from .report import PatternReport, format_report, hottest_links, plot_utilisation, run_pattern
from .steps import Step, StepResult, simulate_steps, uniform_all_to_all

__all__ = [
    "HAVE_NUMBA",
    "EngineStallError",
    "Flow",
    "PatternReport",
    "SimResult",
    "Step",
    "StepResult",
    "format_report",
    "hottest_links",
    "maxmin_rates",
    "patterns",
    "plot_utilisation",
    "run_pattern",
    "simulate",
    "simulate_arrays",
    "simulate_steps",
    "uniform_all_to_all",
]
