"""sweep: parameter grids, local and Dask runners, result tables and plots.

- :func:`expand_grid` / :func:`expand_points`: a YAML spec (job, fixed params, grid with products,
  zips and unit ranges such as ``1KiB:1GiB:x2``) -> points with stable ids.
- :data:`JOBS`: ``collective``, ``infer``, ``traffic``, ``topo`` (``job(params) -> dict`` of outputs).
- :func:`run_sweep`: local processes or Dask, crash-safe journal, resume, one row per point.
- :mod:`sweep.plot`: figures from result tables (busbw vs size, latency breakdown, cost Pareto front).
"""

from .jobs import (
    JOBS,
    Job,
    Param,
    clear_fabric_cache,
    fabric_cache_info,
    fabric_for,
    fabric_key,
    register_job,
    resolve_job,
)
from .runner import (
    SweepResult,
    execute_point,
    journal_path,
    provenance,
    read_metadata,
    read_results,
    run_sweep,
)
from .spec import Point, SweepSpec, canonical, expand_grid, expand_points, load_spec, parse_range, point_id

__all__ = [
    "JOBS",
    "Job",
    "Param",
    "Point",
    "SweepResult",
    "SweepSpec",
    "canonical",
    "clear_fabric_cache",
    "execute_point",
    "expand_grid",
    "expand_points",
    "fabric_cache_info",
    "fabric_for",
    "fabric_key",
    "journal_path",
    "load_spec",
    "parse_range",
    "point_id",
    "provenance",
    "read_metadata",
    "read_results",
    "register_job",
    "resolve_job",
    "run_sweep",
]
