"""fleet: serving simulation, disaggregated prefill/decode, routing and planning (issue 7).

Public API:

- traces: :class:`Trace`, :func:`poisson_trace`, :func:`synthetic_trace`, :func:`load_trace`,
  :func:`closed_loop_trace` (the requests of a closed loop), :data:`WORKLOADS`;
- fleets: :class:`FleetSpec`, :class:`PoolSpec`, :class:`KVNetworkSpec`, :func:`load_fleet`,
  :func:`bundled_fleets`, :func:`single_pool_fleet` (one colocated pool from a model and a fabric);
- step models: :class:`StepModelLike` (what ``inference.StepModel`` provides), :class:`LinearStepModel`,
  :func:`build_step_model`;
- simulation: :func:`simulate_serving` -> :class:`ServingResult`, :func:`check_serving_size` (memory
  estimate), :func:`check_csv_path`, :func:`kv_capacity_tokens`; KV network: :class:`KVNetwork`,
  :func:`build_kv_fabric`;
- routers: :data:`ROUTERS`, :func:`get_router`, :class:`RoundRobin`, :class:`LeastLoaded`,
  :class:`ShortestExpected`, :class:`CostAware`;
- planning: :func:`plan` -> :class:`PlanResult`;
- what-if (:mod:`fleet.whatif`): :func:`collective_monte_carlo`, :func:`serve_monte_carlo` ->
  :class:`MonteCarloResult`, :func:`straggler_fleet`, :func:`place`, :class:`Job`, :func:`run_jobs` ->
  :class:`JobsResult`.
"""

from .kvnet import KVNetwork, build_kv_fabric
from .plan import PlanCandidate, PlanPoint, PlanResult, load_prices, plan
from .pool import kv_capacity_tokens
from .routers import ROUTERS, CostAware, LeastLoaded, RoundRobin, ShortestExpected, check_router, get_router
from .sim import (
    MEMORY_BUDGET,
    Pool,
    RequestView,
    ServingResult,
    build_step_model,
    check_csv_path,
    check_serving_size,
    check_trace_context,
    simulate_serving,
)
from .spec import (
    FleetSpec,
    KVNetworkSpec,
    PoolSpec,
    bundled_fleets,
    fleet_from_dict,
    load_fleet,
    single_pool_fleet,
)
from .stepmodel import LinearStepModel, StepCache, StepModelLike
from .trace import WORKLOADS, Trace, Workload, closed_loop_trace, load_trace, poisson_trace, synthetic_trace
from .whatif import (
    Job,
    JobsResult,
    MonteCarloResult,
    collective_monte_carlo,
    fault_fleet,
    infer_monte_carlo,
    load_jobs,
    place,
    run_jobs,
    serve_monte_carlo,
    straggler_fleet,
)

__all__ = [
    "MEMORY_BUDGET",
    "ROUTERS",
    "WORKLOADS",
    "CostAware",
    "FleetSpec",
    "KVNetwork",
    "KVNetworkSpec",
    "LeastLoaded",
    "LinearStepModel",
    "PlanCandidate",
    "PlanPoint",
    "PlanResult",
    "Pool",
    "PoolSpec",
    "RequestView",
    "RoundRobin",
    "ServingResult",
    "ShortestExpected",
    "StepCache",
    "StepModelLike",
    "Trace",
    "Workload",
    "build_kv_fabric",
    "build_step_model",
    "check_csv_path",
    "check_router",
    "check_serving_size",
    "check_trace_context",
    "closed_loop_trace",
    "bundled_fleets",
    "fleet_from_dict",
    "get_router",
    "kv_capacity_tokens",
    "load_fleet",
    "load_prices",
    "load_trace",
    "plan",
    "poisson_trace",
    "simulate_serving",
    "single_pool_fleet",
    "synthetic_trace",
    # what-if (issue 13): fleet.whatif
    "Job",
    "JobsResult",
    "MonteCarloResult",
    "collective_monte_carlo",
    "fault_fleet",
    "infer_monte_carlo",
    "load_jobs",
    "place",
    "run_jobs",
    "serve_monte_carlo",
    "straggler_fleet",
]
