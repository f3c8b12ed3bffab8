"""Routers: which pool (and replica) serves a request, per phase.

A router is any callable ``router(request, pools) -> choice`` where ``request`` is a
:class:`RequestView` (``id``, ``arrival`` s, ``prompt``/``output`` tokens, ``phase`` = ``"prefill"`` for
the first placement or ``"decode"`` after a disaggregated prefill) and ``pools`` the candidate
:class:`Pool` objects for that phase (colocated + prefill pools, or decode pools). The choice is a pool
(object, name or position in ``pools``), or a ``(pool, replica index)`` pair; without a replica the
least-loaded replica of the pool is used. Routers must be deterministic for runs to be reproducible.

Built-ins (:data:`ROUTERS`):

- ``round-robin``: cycles over every replica of the candidate pools in turn.
- ``least-loaded``: the replica with the fewest outstanding tokens (prompt + output assigned, not done).
- ``shortest-expected``: the replica with the shortest estimated completion, TTFT + (output-1) x TPOT,
  from :meth:`Pool.estimate` (queued prompt tokens ahead at the pool's prefill speed, one decode
  iteration at the current batch; for a ``prefill`` pool, that of the fleet's decode pools).
- ``cost-aware``: among replicas whose estimated TTFT and TPOT meet the SLOs, the pool with the lowest
  $ per output token (replica $/h over its decode throughput at its batch limit); if none meets them,
  the shortest expected completion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from topo import SpecError

from .pool import Pool, RequestView

__all__ = ["ROUTERS", "CostAware", "LeastLoaded", "RoundRobin", "ShortestExpected", "get_router"]


class RoundRobin:
    """Every replica of the candidate pools in turn (separate counters per phase)."""

    def __init__(self, **_: Any) -> None:
        self.count: dict[str, int] = {}

    def __call__(self, req: RequestView, pools: Sequence[Pool]) -> tuple[Pool, int]:
        total = sum(p.n for p in pools)
        i = self.count.get(req.phase, 0)
        self.count[req.phase] = i + 1
        k = i % total
        for p in pools:
            if k < p.n:
                return p, k
            k -= p.n
        raise AssertionError("unreachable")


class LeastLoaded:
    """The replica with the fewest outstanding tokens across the candidate pools (ties: first)."""

    def __init__(self, **_: Any) -> None:
        pass

    def __call__(self, req: RequestView, pools: Sequence[Pool]) -> tuple[Pool, int]:
        best, best_r, best_v = pools[0], 0, np.inf
        for p in pools:
            r = int(np.argmin(p.load))
            v = float(p.load[r])
            if v < best_v:
                best, best_r, best_v = p, r, v
        return best, best_r


def _completion(p: Pool, req: RequestView) -> tuple[float, float, int]:
    r = int(np.argmin(p.load))
    ttft, tpot = p.estimate(req.prompt, req.output, r)
    return ttft, tpot, r


class ShortestExpected:
    """The replica with the shortest estimated completion time (see the module docstring)."""

    def __init__(self, **_: Any) -> None:
        pass

    def __call__(self, req: RequestView, pools: Sequence[Pool]) -> tuple[Pool, int]:
        best, best_r, best_v = pools[0], 0, np.inf
        for p in pools:
            ttft, tpot, r = _completion(p, req)
            v = ttft + max(req.output - 1, 0) * tpot
            if v < best_v:
                best, best_r, best_v = p, r, v
        return best, best_r


class CostAware:
    """Cheapest $/token pool whose estimate meets the SLOs, else shortest expected completion.

    Args:
        slo_ttft, slo_tpot: the objectives, s.
    """

    def __init__(self, slo_ttft: float = 1.0, slo_tpot: float = 0.05, **_: Any) -> None:
        self.slo_ttft = slo_ttft
        self.slo_tpot = slo_tpot
        self.fallback = ShortestExpected()

    def __call__(self, req: RequestView, pools: Sequence[Pool]) -> tuple[Pool, int]:
        best, best_r, best_c = None, 0, np.inf
        ctx = req.prompt + req.output // 2
        for p in pools:
            ttft, tpot, r = _completion(p, req)
            ok_ttft = req.phase == "decode" or ttft <= self.slo_ttft
            if ok_ttft and (req.output <= 1 or tpot <= self.slo_tpot):
                c = p.cost_per_token(ctx)
                if c < best_c:
                    best, best_r, best_c = p, r, c
        if best is None:
            return self.fallback(req, pools)
        return best, best_r


#: built-in routers by CLI name
ROUTERS: dict[str, type] = {
    "round-robin": RoundRobin,
    "least-loaded": LeastLoaded,
    "shortest-expected": ShortestExpected,
    "cost-aware": CostAware,
}


#: what a router must accept and return, for error messages
ROUTER_SIGNATURE = ("a router must accept (request, pools) and return a pool, a pool name or index, or a "
                    "(pool, replica) pair")


def check_router(fn: Any, name: str) -> Callable:
    """``fn`` if it is callable with two positional arguments ``(request, pools)``; else a :class:`SpecError`.

    Callables whose signature Python cannot read (some C builtins) pass and are checked when called."""
    import inspect

    if not callable(fn):
        raise SpecError(f"router: {name} is not callable; {ROUTER_SIGNATURE}")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    try:
        sig.bind(None, ())
    except TypeError:
        raise SpecError(f"router: {name} takes {sig}; {ROUTER_SIGNATURE}") from None
    return fn


def _instantiate(cls: type, name: str, slo_ttft: float, slo_tpot: float) -> Callable:
    """A router class called with the SLOs as keywords (as the built-ins are), then checked."""
    try:
        obj = cls(slo_ttft=slo_ttft, slo_tpot=slo_tpot)
    except TypeError as exc:
        raise SpecError(f"router: class {name} cannot be built as {cls.__name__}(slo_ttft=..., slo_tpot=...) "
                        f"({exc}); accept those keywords or **kwargs") from None
    return check_router(obj, f"an instance of {name}")


def get_router(router: str | Callable, slo_ttft: float = 1.0, slo_tpot: float = 0.05) -> Callable:
    """A fresh router: a built-in by name (with the SLOs for ``cost-aware``) or the callable itself.

    Raises:
        SpecError: an unknown name, a module that cannot be loaded, or a callable that does not accept
            ``(request, pools)``."""
    if callable(router) and not isinstance(router, type):
        return check_router(router, repr(getattr(router, "__name__", router)))
    if isinstance(router, type):
        return _instantiate(router, router.__name__, slo_ttft, slo_tpot)
    if isinstance(router, str):
        if router.startswith("py:") or (":" in router and router not in ROUTERS):
            return _import_router(router.removeprefix("py:"), slo_ttft, slo_tpot)
        if router in ROUTERS:
            return ROUTERS[router](slo_ttft=slo_ttft, slo_tpot=slo_tpot)
    raise SpecError(
        f"router: unknown {router!r}; use one of {', '.join(ROUTERS)} or 'module:function' (a Python callable)"
    )


def _import_router(ref: str, slo_ttft: float, slo_tpot: float) -> Callable:
    """Load ``module:attr`` (or ``path/to/file.py:attr``) as a router; classes are instantiated."""
    import importlib
    import importlib.util

    mod_name, _, attr = ref.rpartition(":")
    if not mod_name or not attr:
        raise SpecError(f"router: {ref!r} must be 'module:function' or 'file.py:function'")
    try:
        if mod_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location("scaleup_user_router", mod_name)
            if spec is None or spec.loader is None:
                raise ImportError(mod_name)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        else:
            mod = importlib.import_module(mod_name)
        obj = getattr(mod, attr)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything while it loads
        raise SpecError(f"router: cannot load {ref!r} ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, type):
        return _instantiate(obj, repr(ref), slo_ttft, slo_tpot)
    return check_router(obj, repr(ref))
