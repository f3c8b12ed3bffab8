"""scaleup command line: a thin click shell over the public Python API.

Each command parses its options, calls one public function of topo / traffic / collectives / inference,
and prints or writes the result. User errors (:class:`topo.ScaleupError`) print one line and exit 2.
"""

from __future__ import annotations

import sys

import click

from topo import ScaleupError


class ScaleupGroup(click.Group):
    """A click group that turns every ScaleupError into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ScaleupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=ScaleupGroup)
@click.version_option(package_name="scaleup-sim")
def main() -> None:
    """scaleup: simulate AI scale-up fabrics, collectives, token latency and cost."""


# ====================================================================== topo commands (issue 2)
# (topo section: `scaleup topo show|plot|export`)


# ====================================================================== traffic commands (issue 3)
# (traffic section: `scaleup traffic`)


# ====================================================================== collective commands (issue 4)
# (collective section: `scaleup collective all-reduce|...`)


# ====================================================================== inference commands (issue 5)
# (inference section: `scaleup infer`)
_INFER_ROWS = (  # (label with unit, Report.to_dict key, scale, format)
    ("TTFT ms", "ttft_s", 1e3, "{:.2f}"),
    ("TPOT ms", "tpot_s", 1e3, "{:.3f}"),
    ("latency s", "latency_s", 1.0, "{:.3f}"),
    ("tokens/s per replica", "tokens_per_s_replica", 1.0, "{:,.0f}"),
    ("tokens/s per chip", "tokens_per_s_chip", 1.0, "{:,.1f}"),
    ("tokens/s fabric", "tokens_per_s_fabric", 1.0, "{:,.0f}"),
    ("replicas", "dp", 1, "{:d}"),
    ("chips per replica", "chips_per_replica", 1, "{:d}"),
    ("decode exposed comm ms/step", "decode_exposed_communication_s", 1e3, "{:.3f}"),
    ("prefill exposed comm ms", "prefill_exposed_communication_s", 1e3, "{:.2f}"),
    ("HBM needed GB/chip", "mem_hbm_needed_bytes", 1e-9, "{:.1f}"),
    ("energy J/token", "energy_per_token_j", 1.0, "{:.4f}"),
    ("cost $/Mtok", "cost_per_mtok_usd", 1.0, "{:.4f}"),
)


@main.command("infer")
@click.option("--model", "model", required=True, help="model preset (llama3.1-70b, ...) or YAML path")
@click.option("--fabric", "fabric", default="maia200", show_default=True, help="fabric preset or YAML path")
@click.option("--tp", default=8, show_default=True, type=int, help="tensor-parallel degree")
@click.option("--ep", default=1, show_default=True, type=int, help="expert-parallel degree (1 or a multiple of tp)")
@click.option("--pp", default=1, show_default=True, type=int, help="pipeline stages")
@click.option("--dp", default=None, type=int, help="replicas (default: fill the fabric)")
@click.option("--batch", default=32, show_default=True, type=int, help="sequences per replica")
@click.option("--prompt", default=2048, show_default=True, type=int, help="prompt tokens")
@click.option("--output", "output_len", default=256, show_default=True, type=int, help="output tokens")
@click.option("--dtype", default="fp8", show_default=True, help="weights/activations dtype (fp4, fp8, bf16, ...)")
@click.option("--kv-dtype", default=None, help="KV-cache dtype (default: --dtype)")
@click.option("--overlap/--no-overlap", default=False, show_default=True, help="hide communication behind compute")
@click.option("--price", "price", default=None, type=float, help="$ per chip-hour (default: capex + power model)")
@click.option("--compute-efficiency", default=None, type=float, help="fraction of peak FLOP/s (default: chip's)")
@click.option("--memory-efficiency", default=None, type=float, help="fraction of memory bandwidth (default: chip's)")
@click.option("--compare", default=None, help="comma-separated fabrics to compare side by side")
@click.option("--json", "as_json", is_flag=True, help="print the flat figures as JSON")
def infer_cmd(model, fabric, tp, ep, pp, dp, batch, prompt, output_len, dtype, kv_dtype, overlap, price,
              compute_efficiency, memory_efficiency, compare, as_json) -> None:
    """Token latency, throughput, memory, energy and cost of one deployment (inference.estimate)."""
    import json

    from inference import estimate

    knobs = {}
    if compute_efficiency is not None:
        knobs["compute_efficiency"] = compute_efficiency
    if memory_efficiency is not None:
        knobs["memory_efficiency"] = memory_efficiency
    fabrics = [f.strip() for f in compare.split(",") if f.strip()] if compare else [fabric]
    reports = [estimate(model, f, tp=tp, ep=ep, pp=pp, dp=dp, batch=batch, prompt=prompt, output=output_len,
                        dtype=dtype, kv_dtype=kv_dtype, overlap=overlap, price_per_chip_hour=price, **knobs)
               for f in fabrics]
    if as_json:
        out = [r.to_dict() for r in reports]
        click.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2))
        return
    if len(reports) == 1:
        click.echo(reports[0].table())
        return
    r0 = reports[0]
    click.echo(f"{r0.model}: tp={tp} ep={ep} pp={pp}, batch={batch}, prompt={prompt}, output={output_len}, "
               f"dtype={dtype}, overlap={overlap}")
    dicts = [r.to_dict() for r in reports]
    width = max(14, *(len(r.fabric) + 2 for r in reports))
    click.echo(f"{'':30s}" + "".join(f"{r.fabric:>{width}s}" for r in reports))
    click.echo(f"{'chip':30s}" + "".join(f"{r.chip:>{width}s}" for r in reports))
    for label, key, scale, fmt in _INFER_ROWS:
        cells = []
        for d in dicts:
            v = d.get(key, 0)
            v = int(v) if fmt == "{:d}" else v * scale
            cells.append(f"{fmt.format(v):>{width}s}")
        click.echo(f"{label:30s}" + "".join(cells))


# ====================================================================== sweep and plot commands (issue 6)
# (sweep section: `scaleup sweep`, `scaleup plot`)
@main.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out", default=None, help="results file, .parquet or .csv [SPEC stem].parquet")
@click.option("--workers", "-j", type=int, default=None, help="local worker processes [core count]; 1 = in process")
@click.option("--scheduler", default=None, help="Dask: 'local' (start a LocalCluster) or tcp://HOST:8786")
@click.option("--resume", is_flag=True, help="keep the finished points already in --out; run the rest")
@click.option("--dry-run", is_flag=True, help="expand the grid and print the points; run nothing")
def sweep_cmd(spec: str, out: str | None, workers: int | None, scheduler: str | None, resume: bool,
              dry_run: bool) -> None:
    """Run a sweep SPEC (YAML: job, params, grid) and write one row per point to --out.

    Exit code 0 when every point succeeded, 1 when some failed (their error is in the row), 2 for a bad
    spec, 130 when interrupted (finished rows are kept; rerun with --resume).
    """
    import os

    import sweep

    if dry_run:
        points = sweep.expand_points(spec)
        click.echo(f"{len(points)} points (job {sweep.load_spec(spec).job})")
        for p in points[:20]:
            click.echo(f"  {p.index:6d} {p.id}  " + " ".join(f"{k}={v}" for k, v in p.params.items()))
        if len(points) > 20:
            click.echo(f"  ... {len(points) - 20} more")
        return
    if out is None:
        out = os.path.splitext(os.path.basename(spec))[0] + ".parquet"
    try:
        res = sweep.run_sweep(spec, out, workers=workers, scheduler=scheduler, resume=resume)
    except KeyboardInterrupt:
        sys.exit(130)
    click.echo(
        f"{res.total} points: {res.ran} run, {res.skipped} kept, {res.failed} failed in {res.seconds:.1f} s "
        f"({res.rate:.1f} points/s) -> {res.path}"
    )
    if res.failed:
        sys.exit(1)


@main.command("plot")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", "-k", default="xy", show_default=True,
              type=click.Choice(["xy", "busbw", "latency-breakdown", "cost-pareto"]),
              help="xy: --x/--y; busbw: busbw vs size per algorithm; latency-breakdown: stacked bars; "
                   "cost-pareto: $/Mtok vs TPOT with the Pareto front")
@click.option("--x", "x", default=None, help="column on the x axis (xy, cost-pareto: tpot_s or ttft_s)")
@click.option("--y", "y", default=None, help="column on the y axis (e.g. busbw_GBps, time_us)")
@click.option("--hue", default=None, help="column: one line/colour per value")
@click.option("--facet", default=None, help="column: one panel per value")
@click.option("--logx/--no-logx", default=None, help="log x axis [auto: log2 with byte labels for sizes]")
@click.option("--logy/--no-logy", default=False, help="log y axis")
@click.option("--phase", default="decode", type=click.Choice(["decode", "prefill"]),
              help="latency-breakdown: which step")
@click.option("--title", default=None, help="figure title")
@click.option("--output", "-o", "out", required=True, help="figure file: .png, .svg or .pdf")
def plot_cmd(results: str, kind: str, x: str | None, y: str | None, hue: str | None, facet: str | None,
             logx: bool | None, logy: bool, phase: str, title: str | None, out: str) -> None:
    """Draw a figure from a sweep's RESULTS (.parquet or .csv)."""
    from sweep import plot as sweep_plot

    kw = {"x": x, "y": y, "hue": hue, "facet": facet, "logx": logx, "logy": logy, "title": title}
    if kind == "latency-breakdown":
        kw["phase"] = phase
    if kind in ("busbw", "cost-pareto") and y is None:
        kw.pop("y")
    if kind == "cost-pareto":
        kw["logx"] = bool(logx)
        if x is None:
            kw.pop("x")
    click.echo(sweep_plot.plot(results, out, kind=kind, **kw))


# ====================================================================== serving commands (issue 7)
# (serving section: `scaleup serve`, `scaleup plan`)


if __name__ == "__main__":
    main()
