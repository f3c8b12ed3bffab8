"""The standard "everything a user can do in the CLI they can do from Python with the same names": every option of
every ``scaleup`` command is a parameter of the public function behind it (the option's name, dashes as
underscores), or a rename listed here and in docs/INTERFACES.md ("CLI <-> Python"), or presentation only (--json,
--plot, ...). Where both give a default they agree; and the same input gives the same figures (CLI --json vs the
function, small fabrics)."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import topo
from cli import _json_text, main

INTERFACES = Path(__file__).resolve().parents[1] / "docs" / "INTERFACES.md"


def _obj(path: str):
    """``"pkg.mod:Qual.name"`` -> the object."""
    mod, _, qual = path.partition(":")
    obj = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


FAULTS = {"fail": "topo:Fabric.with_faults:faults", "straggler": "topo:Fabric.with_stragglers:speeds"}
SET = {"set": "topo:load:**"}  # --set key=value: topo.load(name, key=value)
MC = {"fail_seed": "{mc}:seed", "fail_random": "{mc}:rates"}

#: command -> (functions behind it, renames {option: "module:function:parameter"}, presentation-only options,
#: options the CLI defaults and the function requires, options the CLI leaves unset (None) so that the
#: function's own default applies, {option: the value a Python None stands for})
PARITY = {
    ("topo", "list"): (["topo:describe_fabrics"], {}, set(), set(), set(), {}),
    ("topo", "show"): (["topo:load", "topo:summarize"],
                       {"fabric": "topo:load:name_or_path", **SET, "fail": "topo.faults:fault_summary:faulted"},
                       {"json"}, set(), set(), {}),
    ("topo", "plot"): (["topo:plot_fabric"], {"fabric": "topo:load:name_or_path", "output": "topo:plot_fabric:path",
                                               **SET, "fail": "topo.faults:plot_faults:faulted"},
                       set(), set(), set(), {}),
    ("topo", "export"): (["topo:export_fabric"], {"fabric": "topo:load:name_or_path",
                                                   "output": "topo:export_fabric:path", **SET,
                                                   "fail": FAULTS["fail"]},
                         set(), set(), set(), {}),
    ("traffic",): (["traffic:run_pattern", "traffic:format_report"], {**SET, **FAULTS},
                   {"plot"}, {"fabric", "pattern", "size"}, set(), {}),
    ("calibrate",): (["collectives:calibrate"],
                     {"stack": "collectives.stacks:calibrate_stack:stack", **SET},
                     {"output"}, set(), set(), {}),
    ("infer",): (["inference:estimate", "inference:compare"],
                 {"price": "inference:estimate:price_per_chip_hour", "compare": "inference:compare:fabrics",
                  "nearest": "inference.perf_overview:nearest:k", **FAULTS, **SET,
                  **{k: v.format(mc="fleet:infer_monte_carlo") for k, v in MC.items()},
                  "samples": "fleet:infer_monte_carlo:samples"},
                 {"json", "fail_plot"}, {"fabric"}, {"samples"}, {"stack": "inference:DEFAULT_STACK"}),
    ("measure",): (["inference.measure:measure"],
                   {"compare": "inference.measure:compare:table", "chip": "inference.measure:compare:chip",
                    "stack": "inference.measure:compare:stack"}, set(), set(), set(), {}),
    ("plan",): (["fleet:plan"], {}, {"plot", "json"}, set(), set(), {}),
    ("plot",): (["sweep.plot:plot", "sweep.plot:plot_table", "sweep.plot:plot_busbw",
                 "sweep.plot:plot_latency_breakdown", "sweep.plot:plot_cost_pareto"],
                {"results": "sweep.plot:plot:data", "output": "sweep.plot:plot:out"}, set(), set(),
                {"x", "y", "logx"}, {}),
    ("serve",): (["fleet:simulate_serving", "fleet:single_pool_fleet"],
                 {**{k: v.format(mc="fleet:serve_monte_carlo") for k, v in MC.items()},
                  "samples": "fleet:serve_monte_carlo:samples", "straggler": "fleet:straggler_fleet:stragglers",
                  "fail": "fleet:fault_fleet:faults"},
                 {"json", "out", "fail_plot"}, set(),
                 {"tp", "ep", "pp", "dtype", "replicas", "token_budget", "chunked_prefill", "think", "samples"}, {}),
    ("sweep",): (["sweep:run_sweep"], {"dry_run": "sweep:expand_points:spec"}, set(), set(), set(), {}),
    ("jobs",): (["fleet:run_jobs"], {"spec": "fleet:load_jobs:source", **FAULTS}, {"json"}, set(), set(), {}),
}
for _cmd in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "broadcast", "reduce", "sendrecv"):
    PARITY[("collective", _cmd)] = (
        ["collectives:benchmark", "fleet:collective_monte_carlo"],
        {"fabric": "collectives:benchmark:fab", **SET, **FAULTS,
         **{k: v.format(mc="fleet:collective_monte_carlo") for k, v in MC.items()}},
        {"csv", "json", "plot", "fail_plot"}, {"sizes"}, {"samples"}, {})

#: documented **kwargs: {function: names it takes through **kwargs} (docs/INTERFACES.md: estimate's knobs,
#: the collectives' algorithm and run options)
KWARGS = {
    "inference:estimate": {"prices", "kernels", "host_per_seq", "moe_per_seq", "speculative", "amortisation_years", "power_price", "pue",
                           "power_factor"},
    "inference:compare": {"tp", "ep", "pp", "dp", "batch", "prompt", "output", "dtype", "kv_dtype", "overlap"},
    "collectives:benchmark": {"chunks", "root", "intra", "inter", "mode", "overhead", "ideal"},
}


def _command(path: tuple[str, ...]) -> click.Command:
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _names(param: click.Parameter) -> list[str]:
    """An option's long names (``--kv-dtype`` -> ``kv_dtype``; aliases too); an argument's name."""
    if isinstance(param, click.Argument):
        return [param.name]
    return [o.lstrip("-").replace("-", "_") for o in param.opts if o.startswith("--")]


def _leaves(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _leaves(cmd, prefix + (name,))
        elif not (prefix == ("collective",) and name == "list"):
            out.append(prefix + (name,))
    return out


def _params(fn) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(fn).parameters)


def _target_exists(target: str) -> bool:
    mod_fn, _, param = target.rpartition(":")
    fn = _obj(mod_fn)
    params = _params(fn)
    if param == "**":
        return any(p.kind is p.VAR_KEYWORD for p in params.values())
    return param in params


def test_every_command_is_covered():
    assert sorted(_leaves()) == sorted(PARITY), "a new command needs its Python function in PARITY (and INTERFACES)"


@pytest.mark.parametrize("path", sorted(PARITY), ids=" ".join)
def test_every_option_is_a_parameter_of_the_same_name(path):
    """Each option is a parameter of the function behind the command under its own name (an alias counts), or
    a listed rename whose target parameter exists, or presentation only; no stale entries."""
    fns, renames, cli_only, *_ = PARITY[path]
    accepted = set()
    for f in fns:
        accepted |= set(_params(_obj(f))) | KWARGS.get(f, set())
    cmd = _command(path)
    firsts = set()
    for param in cmd.params:
        if param.name == "help":
            continue
        names = _names(param)
        firsts.add(names[0])
        if any(n in accepted for n in names) and names[0] not in renames:
            continue
        if names[0] in renames:
            assert _target_exists(renames[names[0]]), (path, names[0], renames[names[0]])
            continue
        assert names[0] in cli_only, f"scaleup {' '.join(path)} --{names[0]}: no parameter of {', '.join(fns)}"
    stale = (set(renames) | cli_only) - firsts
    assert not stale, f"PARITY lists options scaleup {' '.join(path)} does not have: {stale}"


def _declared_default(param: click.Parameter):
    """The option's declared default: click >= 8.3 reports an option declared without one as its ``UNSET`` sentinel
    (a flag then defaults to False, anything else to None), older click as False / None directly."""
    d = param.default
    unset = getattr(click.core, "UNSET", None)
    if unset is not None and d is unset:
        return False if getattr(param, "is_flag", False) and not getattr(param, "multiple", False) else None
    return d


def _cli_default(param: click.Parameter, py_default):
    """The option's default in the function's terms: a unit string in SI (``"1s"`` -> 1.0), a comma list as a
    tuple (``"1,2,4,8"`` -> (1, 2, 4, 8))."""
    d = _declared_default(param)
    if isinstance(d, str) and isinstance(py_default, float):
        return topo.parse_quantity(d, "time", param.name)
    if isinstance(d, str) and isinstance(py_default, tuple):
        items = [x.strip() for x in d.split(",") if x.strip()]
        return tuple(int(x) for x in items) if py_default and isinstance(py_default[0], int) else tuple(items)
    return d


@pytest.mark.parametrize("path", sorted(PARITY), ids=" ".join)
def test_defaults_agree(path):
    """Where the CLI and a function behind it both give an option a default, they are the same value; an option
    the CLI defaults is not required by the function (unless listed); a CLI None means the function's default
    only for options the CLI leaves unset."""
    fns, renames, _, required_ok, unset, none_means = PARITY[path]
    cmd = _command(path)
    for param in cmd.params:
        if not isinstance(param, click.Option) or param.name == "help" or param.required:
            continue
        names = _names(param)
        if names[0] in renames or param.multiple:
            continue
        for f in fns:
            params = _params(_obj(f))
            p = next((params[n] for n in names if n in params), None)
            if p is None or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            where = f"scaleup {' '.join(path)} --{names[0]} vs {f}({p.name}=)"
            if p.default is p.empty:
                assert _declared_default(param) is None or names[0] in required_ok, f"{where}: CLI default, Python required"
                continue
            if _declared_default(param) is None and names[0] in unset:
                continue
            py = _obj(none_means[names[0]]) if p.default is None and names[0] in none_means else p.default
            assert _cli_default(param, py) == py, f"{where}: {_declared_default(param)!r} != {p.default!r}"


def test_plan_defaults_are_the_cli_s():
    """`scaleup plan --model M --rate R` and `fleet.plan(M, R)` search the same candidates under the same SLOs."""
    import fleet

    p = _params(fleet.plan)
    assert (p["slo_ttft"].default, p["slo_tpot"].default) == (1.0, 0.05)
    assert tuple(p["candidates"].default) == ("maia200", "gb200-nvl72", "dgx-h100")


# ---------------------------------------------------------------- the same figures (CLI --json vs Python)
def _cli_json(*args: str):
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_collective_default_group_size_is_the_cli_s():
    """`benchmark()` without group_size ran every chip (384 on maia200-small) where `scaleup collective` runs
    min(64, chips); now both run 64 ranks and give the same time."""
    import collectives

    out = _cli_json("collective", "all-gather", "--fabric", "maia200-small", "--sizes", "1MiB", "--json")
    py = collectives.benchmark("all-gather", "maia200-small", "1MiB")
    assert [(r["n"], r["time_us"], r["algorithm"]) for r in out] == [(r["n"], r["time_us"], r["algorithm"]) for r in py]
    assert py[0]["n"] == 64
    assert collectives.benchmark("sendrecv", "dgx-h100", "1MiB")[0]["n"] == 2


def test_collective_monte_carlo_runs_one_group_as_the_cli():
    """`--fail-random` without --concurrent-groups runs the first group alone; collective_monte_carlo's default
    ran every group at once."""
    from fleet import collective_monte_carlo

    out = _cli_json("collective", "all-reduce", "--fabric", "maia200-small", "--group-size", "8", "--sizes", "1MiB",
                    "--fail-random", "x0", "--samples", "1", "--ideal", "--algorithm", "ring", "--mode", "steps",
                    "--json")
    mc = collective_monte_carlo("all_reduce", "maia200-small", "1MiB", 8, rates="x0", samples=1, ideal=True,
                                algorithm="ring", mode="steps")
    assert out == [json.loads(_json_text(mc.to_dict()))]
    assert len(mc.extra.get("groups_lost", [0])) == 1 and mc.extra["groups_lost"][0] == 0


def test_infer_default_layout_is_the_cli_s():
    """`estimate()` defaulted to tp=8, pp=1 (a CapacityError on SRAM-only chips) where `scaleup infer` chooses the
    layout (inference.layout.auto_layout); now both choose it: the same figures."""
    from inference import estimate

    out = _cli_json("infer", "--model", "llama3.1-8b", "--fabric", "groq-rack", "--batch", "4", "--prompt", "512",
                    "--output", "16", "--json")
    rep = estimate("llama3.1-8b", "groq-rack", batch=4, prompt=512, output=16)
    assert (rep.tp, rep.pp) == (out["tp"], out["pp"]) and rep.pp > 1
    assert (rep.tpot, rep.ttft) == (out["tpot_s"], out["ttft_s"])
    # on an HBM chip the default is 8 x 1, as before
    assert (lambda r: (r.tp, r.pp))(estimate("llama3.1-8b", "dgx-h100", batch=4, prompt=128, output=8)) == (8, 1)


def test_infer_ideal_is_a_parameter():
    """`scaleup infer --ideal` = `estimate(..., ideal=True)` = `stack="ideal"`; with a serving stack a SpecError."""
    from inference import estimate

    out = _cli_json("infer", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--batch", "4", "--prompt", "128",
                    "--output", "8", "--ideal", "--json")
    kw = dict(batch=4, prompt=128, output=8)
    rep = estimate("llama3.1-8b", "dgx-h100", ideal=True, **kw)
    assert rep.tpot == out["tpot_s"] == estimate("llama3.1-8b", "dgx-h100", stack="ideal", **kw).tpot
    assert rep.tpot != estimate("llama3.1-8b", "dgx-h100", **kw).tpot  # the calibrated stack is another model
    with pytest.raises(topo.SpecError, match="ideal"):
        estimate("llama3.1-8b", "dgx-h100", ideal=True, stack="vllm", **kw)


def test_infer_set_is_topo_load_overrides():
    """`scaleup infer --set k=v` = `estimate(model, topo.load(fabric, k=v))` (INTERFACES: every command with a
    fabric takes --set; infer had no such option), on --fabric and on every --compare fabric."""
    from inference import estimate

    kw = dict(batch=4, prompt=128, output=8)
    args = ["infer", "--model", "llama3.1-8b", "--tp", "8", "--batch", "4", "--prompt", "128", "--output", "8"]
    out = _cli_json(*args, "--fabric", "dgx-h100", "--set", "bandwidth=100GB/s", "--json")
    rep = estimate("llama3.1-8b", topo.load("dgx-h100", bandwidth="100GB/s"), tp=8, **kw)
    assert (rep.tpot, rep.ttft) == (out["tpot_s"], out["ttft_s"])
    assert rep.tpot != estimate("llama3.1-8b", "dgx-h100", tp=8, **kw).tpot  # the override took effect
    both = _cli_json(*args, "--compare", "dgx-h100,dgx-h200", "--set", "bandwidth=100GB/s", "--json")
    assert both[0]["tpot_s"] == out["tpot_s"]
    assert both[1]["tpot_s"] == estimate("llama3.1-8b", topo.load("dgx-h200", bandwidth="100GB/s"), tp=8, **kw).tpot


def test_serve_rate_without_duration_is_600_s_as_the_cli():
    """`scaleup serve --rate R` draws 600 s of arrivals; simulate_serving(rate=R) refused a missing duration."""
    import fleet

    out = _cli_json("serve", "--model", "llama3.1-8b", "--fabric", "dgx-h100", "--rate", "0.05", "--prompt", "64",
                    "--output", "8", "--json")
    res = fleet.simulate_serving(fleet.single_pool_fleet("llama3.1-8b", "dgx-h100"), rate=0.05, prompt=64, output=8)
    assert out == json.loads(_json_text(res.to_dict()))
    assert res.summary()["requests"] == out["requests"] > 10  # ~30 arrivals in 600 s


def test_traffic_k_is_refused_outside_incast_as_the_cli():
    """`scaleup traffic --k 3 --pattern ring` is an error; run_pattern(..., k=3) ignored k silently."""
    from traffic import run_pattern

    with pytest.raises(topo.ScaleupError, match="incast"):
        run_pattern("dgx-h100", "ring", 1e6, k=3)
    r = CliRunner().invoke(main, ["traffic", "--fabric", "dgx-h100", "--pattern", "ring", "--k", "3"])
    assert r.exit_code == 2 and "incast" in r.output
    assert run_pattern("dgx-h100", "incast", 1e6, k=3).flows == 3


def test_plan_takes_comma_strings_as_the_cli():
    """`candidates` / `modes` as one comma-separated string (as --candidates / --modes) are their items, not the
    string's letters (checked before any simulation: a wrong mode is still a one-line error)."""
    import fleet

    with pytest.raises(topo.SpecError, match="modes: unknown .'bogus'.") as e:
        fleet.plan("llama3.1-8b", 1.0, candidates="dgx-h100,maia200", modes="colocated,bogus")
    assert "'o'" not in str(e.value)


def test_plan_figures_are_the_cli_s():
    """`scaleup plan` (its default SLOs) and `fleet.plan` with the same search, given as the CLI's strings."""
    import fleet

    out = _cli_json("plan", "--model", "llama3.1-8b", "--rate", "1", "--candidates", "dgx-h100", "--tp", "8",
                    "--batch", "32", "--modes", "colocated", "--duration", "10s", "--json")
    res = fleet.plan("llama3.1-8b", 1.0, candidates="dgx-h100", tps=(8,), batches=(32,), modes="colocated",
                     duration=10.0)
    assert out == json.loads(_json_text(res.to_dict()))
    assert out["settings"]["slo_ttft_s"] == 1.0 and out["settings"]["candidates"] == ["dgx-h100"]


def test_jobs_figures_are_the_cli_s(tmp_path):
    """`scaleup jobs SPEC --json` = `fleet.run_jobs(*fleet.load_jobs(SPEC))` (default mode exact, both)."""
    import fleet

    spec = tmp_path / "jobs.yaml"
    spec.write_text("fabric: dgx-h100\njobs:\n  - {name: a, collective: all-reduce, size: 1MiB, group_size: 4, "
                    "n_groups: 1}\n  - {name: b, collective: all_gather, size: 4MiB, group_size: 4, n_groups: 1}\n")
    out = _cli_json("jobs", str(spec), "--json")
    fab, jobs = fleet.load_jobs(str(spec))
    assert out == json.loads(_json_text(fleet.run_jobs(fab, jobs).to_dict()))


# ---------------------------------------------------------------- docs/INTERFACES.md says the signatures
#: functions whose signature INTERFACES.md spells out: every parameter it names exists, and every default it
#: gives as a Python literal is the code's
DOC_SIGNATURES = {
    "estimate": "inference:estimate", "benchmark": "collectives:benchmark", "collective": "collectives:collective",
    "simulate_serving": "fleet:simulate_serving", "single_pool_fleet": "fleet:single_pool_fleet",
    "plan": "fleet:plan", "run_jobs": "fleet:run_jobs", "load_jobs": "fleet:load_jobs",
    "collective_monte_carlo": "fleet:collective_monte_carlo", "infer_monte_carlo": "fleet:infer_monte_carlo",
    "serve_monte_carlo": "fleet:serve_monte_carlo", "kv_capacity_tokens": "fleet:kv_capacity_tokens",
    "run_sweep": "sweep:run_sweep", "measured_times": "collectives.validation:measured_times",
    "inference.measure.measure": "inference.measure:measure", "run_pattern": "traffic:run_pattern",
    "Fabric.from_graph": "topo:Fabric.from_graph", "run": "collectives:run",
    # every other function INTERFACES.md writes as name(parameters) (its CLI section's calls too)
    "bundled_dir": "topo.bundled:bundled_dir", "bundled_file": "topo.bundled:bundled_file",
    "check_bare": "topo.units:check_bare", "check_figure_path": "topo.draw:check_figure_path",
    "check_override_keys": "topo.loader:check_override_keys", "edge_ids": "topo:Fabric.edge_ids",
    "failed_chips": "topo.faults:failed_chips", "fault_summary": "topo.faults:fault_summary",
    "format_bytes": "topo:format_bytes", "groups": "topo:Fabric.groups", "import_fabric": "topo:import_fabric",
    "parse_rates": "topo.faults:parse_rates", "parse_speeds": "topo.faults:parse_speeds",
    "paths": "topo:Fabric.paths", "random_faults": "topo.faults:random_faults", "routes": "topo:Fabric.routes",
    "with_faults": "topo:Fabric.with_faults", "with_stragglers": "topo:Fabric.with_stragglers",
    "maxmin_rates": "traffic:maxmin_rates", "simulate": "traffic:simulate",
    "simulate_arrays": "traffic:simulate_arrays", "simulate_steps": "traffic:simulate_steps",
    "uniform_all_to_all": "traffic:uniform_all_to_all",
    "aiconfigurator_table": "collectives:calibrate_module.aiconfigurator_table",
    "all_reduce_tier": "collectives.stacks:all_reduce_tier", "calibrate": "collectives:calibrate",
    "calibrate_stack": "collectives.stacks:calibrate_stack", "chip_family": "collectives.stacks:chip_family",
    "choice": "collectives.nccl_tuner:choice", "comm_view": "collectives.stacks:comm_view",
    "get": "collectives.nccl_tuner:get", "graphs": "collectives.nccl_tuner:graphs",
    "ladder": "collectives.stacks:ladder", "marginal": "collectives.validation:marginal",
    "marginal_busbw": "collectives.validation:marginal_busbw",
    "nccl_version_ratios": "collectives.validation:nccl_version_ratios",
    "nccl_versions": "collectives.validation:nccl_versions",
    "one_nvlink_domain": "collectives.stacks:one_nvlink_domain",
    "outlier_flags": "collectives.validation:outlier_flags", "predicted": "collectives.nccl_tuner:predicted",
    "restricted_comm": "collectives.stacks:restricted_comm", "rung_label": "collectives.stacks:rung_label",
    "stack_all_reduce": "collectives.stacks:stack_all_reduce", "stack_plan": "collectives.stacks:stack_plan",
    "stack_table": "collectives.stacks:stack_table", "table_versions": "collectives.validation:table_versions",
    "tier_comm": "collectives.stacks:tier_comm", "validate": "collectives.validation:validate",
    "Lengths.constant": "inference.lengths:Lengths.constant", "activation_peak": "inference.memory:activation_peak",
    "allreduce_workspace_bytes": "inference.memory:allreduce_workspace_bytes",
    "bench_device_gib": "inference.validation:bench_device_gib",
    "bench_engine_elements": "inference.validation:bench_engine_elements",
    "bench_kv_bytes_per_token": "inference.validation:bench_kv_bytes_per_token",
    "bench_settings": "inference.validation:bench_settings",
    "block_scale_factor": "inference.memory:block_scale_factor", "cdf_from_cf": "inference.tails:cdf_from_cf",
    "cells": "inference.perf_overview:cells", "chip_cost_per_hour": "inference:chip_cost_per_hour",
    "collective_choice": "inference.comm:collective_choice",
    "comm_buffer_bytes": "inference.memory:comm_buffer_bytes", "compare_table": "inference.measure:compare_table",
    "count_dispersion": "inference.tails:count_dispersion", "cuda_graph_bytes": "inference.memory:cuda_graph_bytes",
    "decode_attention_time": "inference.kernels:decode_attention_time",
    "decode_padded": "inference:Deployment.decode_padded", "default_lanes": "inference.measured:default_lanes",
    "device_total_bytes": "inference.memory:device_total_bytes",
    "distinct_active": "inference.kernels:distinct_active", "engine_limits": "inference.mlperf:engine_limits",
    "engine_memory": "inference.memory:engine_memory", "erlang_c": "inference.tails:erlang_c",
    "estimation_graph_batch": "inference.memory:estimation_graph_batch",
    "estimation_kv_blocks": "inference.memory:estimation_kv_blocks",
    "feedback_window_var": "inference.tails:feedback_window_var", "fit_host": "inference.validation:fit_host",
    "format_nearest": "inference.perf_overview:format_nearest", "host_factor": "inference.kernels:host_factor",
    "hot_rank_tokens": "inference.kernels:hot_rank_tokens", "kv_rule": "inference.memory:kv_rule",
    "latency_percentiles": "inference.mlperf:latency_percentiles",
    "latency_table": "inference.mlperf:latency_table", "launched": "inference.kernels:launched",
    "load_model": "inference:load_model", "load_table": "inference.measure:load_table",
    "mean_cis": "inference.tails:mean_cis", "mg1_wait_cf": "inference.tails:mg1_wait_cf",
    "mixed_step": "inference:Deployment.mixed_step", "mixed_time": "inference:StepModel.mixed_time",
    "mixture_quantile": "inference.tails:mixture_quantile", "nearest": "inference.perf_overview:nearest",
    "padded_batch": "inference.estimate:padded_batch", "pick_lane": "inference.measured:pick_lane",
    "pipeline_stages": "inference.layout:pipeline_stages", "predict_mlperf": "inference.mlperf:predict_mlperf",
    "price_basis": "inference.estimate:price_basis", "print_rows": "inference.perf_overview:print_rows",
    "print_table": "inference.validation:print_table", "profile_for": "inference.kernels:profile_for",
    "read_table": "inference.measure:read_table", "rows": "inference.perf_overview:rows",
    "run_lengths": "inference.mlperf:run_lengths", "sensitivity": "inference.mlperf:sensitivity",
    "sibling_repair": "inference.measured:sibling_repair", "slot_context": "inference.lengths:slot_context",
    "slot_wait_cf": "inference.tails:slot_wait_cf", "sm_version": "inference.measured:sm_version",
    "stack_reference": "inference.kernels:stack_reference", "steady_state": "inference.mlperf:steady_state",
    "step_model": "inference.mlperf:step_model", "summary_line": "inference.perf_overview:summary_line",
    "table_path": "inference.measured:table_path", "tp_all_reduce_plan": "inference.comm:tp_all_reduce_plan",
    "tp_comm_note": "inference.comm:tp_comm_note", "tp_ep_ratios": "inference.measured:tp_ep_ratios",
    "tp_policy": "inference.comm:tp_policy", "ttft_pmf": "inference.tails:ttft_pmf",
    "window_cost_cf": "inference.tails:window_cost_cf", "window_count_var": "inference.tails:window_count_var",
    "check_csv_path": "fleet:check_csv_path", "check_router": "fleet:check_router",
    "check_serving_size": "fleet:check_serving_size", "closed_loop_trace": "fleet:closed_loop_trace",
    "fault_fleet": "fleet:fault_fleet", "latency_rows": "fleet.mlperf:latency_rows",
    "load_prices": "fleet:load_prices", "meets_limits": "fleet.mlperf:meets_limits", "place": "fleet:place",
    "server_throughput": "fleet.mlperf:server_throughput", "simulate_mlperf": "fleet.mlperf:simulate_mlperf",
    "simulate_offline": "fleet.mlperf:simulate_offline", "straggler_fleet": "fleet:straggler_fleet",
    "validation_table": "fleet.mlperf:validation_table",
    "expand_points": "sweep:expand_points", "fabric_for": "sweep:fabric_for", "read_results": "sweep:read_results",
    "register_job": "sweep:register_job",
}


def _doc_calls(name: str) -> list[str]:
    """The argument lists of every backticked ``name(...)`` in INTERFACES.md (nested brackets kept)."""
    text = INTERFACES.read_text()
    out = []
    for m in re.finditer(r"(?<![\w])" + re.escape(name) + r"\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.append(text[m.end():i - 1])
    return out


def _split_args(args: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in args:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return parts + [cur]


@pytest.mark.parametrize("name", sorted(DOC_SIGNATURES))
def test_interfaces_signatures_are_the_code_s(name):
    fn = _obj(DOC_SIGNATURES[name])
    params = _params(fn)
    kwargs = KWARGS.get(DOC_SIGNATURES[name], set())
    calls = _doc_calls(name)
    assert calls, f"INTERFACES.md no longer spells out {name}(...)"
    for args in calls:
        usage = args.strip().startswith("...")  # `run(..., ideal=True)`: a call, not the signature's defaults
        for a in _split_args(args):
            a = " ".join(a.split())
            if not a or a.startswith(("*", "...")) or a == "...":
                continue
            key, eq, value = a.partition("=")
            key = key.strip()
            if not re.fullmatch(r"[A-Za-z_]\w*", key):
                continue
            assert key in params or key in kwargs, \
                f"INTERFACES.md: {name}({key}...): no such parameter; the code has {list(params)}"
            value = value.strip().split(" (")[0].strip()
            if eq and not usage and key in params and value not in ("", "...") and \
                    params[key].default is not params[key].empty:
                try:
                    literal = eval(value, {})  # noqa: S307 - a Python literal from our own docs
                except Exception:
                    continue
                assert literal == params[key].default, f"INTERFACES.md: {name}({key}={value}) but the code's is " \
                                                       f"{params[key].default!r}"


def test_topo_exports_what_interfaces_names():
    """`from topo import *` gives the communication-software names INTERFACES.md calls topo.X."""
    ns: dict = {}
    exec("from topo import *", ns)  # noqa: S102
    for name in ("COMM", "CommSpec", "PROTOCOLS", "comm_preset", "parse_comm", "load", "summarize"):
        assert name in ns, name
