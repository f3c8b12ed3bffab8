"""scaleup command line: a thin click shell over the public Python API.

Each command parses its options, calls one public function of topo / traffic / collectives / inference,
and prints or writes the result. User errors (:class:`topo.ScaleupError`) print one line and exit 2.
"""

from __future__ import annotations

import functools
import sys

import click

from topo.errors import ScaleupError

#: command names other simulators' users type, and the scaleup command that does it (``scaleup fabric show`` said
#: only "No such command 'fabric'": click's did-you-mean finds no name close to ``topo``)
_COMMAND_HINTS = {"fabric": "topo", "fabrics": "topo", "topology": "topo", "network": "topo",
                  "collectives": "collective", "coll": "collective", "nccl": "collective", "inference": "infer"}


class ScaleupGroup(click.Group):
    """A click group that turns every ScaleupError into one line on stderr and exit code 2."""

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        """click's lookup; an unknown name that another tool uses for a scaleup command names that command."""
        name = args[0] if args else ""
        if name in _COMMAND_HINTS and self.get_command(ctx, name) is None:
            cmd = _COMMAND_HINTS[name]
            subs = getattr(self.get_command(ctx, cmd), "commands", {})
            what = f" ({' | '.join(sorted(subs))})" if subs else ""
            raise click.UsageError(f"No such command {name!r}; use `scaleup {cmd}`{what}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ScaleupError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:  # a file the user named cannot be read or written (missing directory, ...)
            if exc.filename is None:
                raise
            click.echo(f"error: {exc.filename}: {exc.strerror or exc}; check the path", err=True)
            sys.exit(2)


def _json_text(obj, indent: int | None = 2, default=None) -> str:
    """``obj`` as strict JSON (RFC 8259): NaN and +-inf, which ``json.dumps`` writes as the bare words ``NaN`` /
    ``Infinity`` that strict parsers (``jq``, JavaScript's ``JSON.parse``) refuse, become ``null``; numpy scalars and
    arrays become numbers and lists. Every ``--json`` of the CLI goes through here."""
    import json
    import math

    import numpy as np

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.ndarray):
            return [clean(x) for x in v.tolist()]
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v

    return json.dumps(clean(obj), indent=indent, default=default, allow_nan=False)


@click.group(cls=ScaleupGroup)
@click.version_option(package_name="scaleup-sim")
def main() -> None:
    """scaleup: simulate AI scale-up fabrics, collectives, token latency and cost."""


# ====================================================================== topo commands (issue 2)
# (topo section: `scaleup topo show|plot|export|list`)


def _topo_overrides(items: tuple[str, ...]) -> dict:
    """Parse ``--set key=value`` items; values are YAML scalars/lists (``chips=256``, ``dims=[8,8,8]``)."""
    import yaml

    from topo import SpecError

    out = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--set: expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            raise SpecError(f"--set {k}: cannot parse value {v!r}") from None
    return out


def _quantity_opt(value: str, dimension: str, field: str) -> float:
    """A command-line quantity in SI units. Times and sizes need a unit on the command line (a bare non-zero
    number is refused with a hint such as ``write e.g. '2us'``), so ``--overhead 2`` cannot mean 2 seconds."""
    from topo import parse_quantity

    return parse_quantity(value, dimension, field, require_unit=True)


def _size_opt(value: str, field: str) -> float:
    """A positive size option with a unit (``64MiB``; ``64B`` for bytes), at least one byte (as ``--sizes``)."""
    from topo import UnitError, parse_positive

    v = parse_positive(value, "size", field, require_unit=True)
    if v < 1:
        raise UnitError(f"{field}: {value!r} is less than one byte; messages are at least 1B")
    return v


_SET_HELP = "Override a key of the fabric file, e.g. --set chips=256 (repeatable)."


def _fail_options(f):
    """What-if options shared by the commands that take a fabric (issue 13, topo.faults): ``--fail``
    (repeatable) and ``--straggler``."""
    f = click.option("--straggler", "straggler", default=None,
                     help="per-chip speed factors: K@F (K chips at speed F), cN@F (chip N), normal:MEAN,SD or "
                          "uniform:LO,HI (see docs/whatif.md)")(f)
    return click.option("--fail", "fail", multiple=True,
                        help="fail or degrade parts: KIND:TARGET[@FACTOR], KIND link|cable|port|switch|plane|tray|"
                             "chip|flap, e.g. plane:3, cable:c0-p0.leaf0, port:c7-p1.leaf0 (one cable of a bundle), "
                             "chip:c[0-3], link:c0->c1@0.5 (repeatable)")(f)


def _mc_options(f):
    """Monte Carlo options (issue 13): ``--fail-random``, ``--samples``, ``--fail-seed``, ``--fail-plot``."""
    f = click.option("--fail-plot", "fail_plot", default=None, help="write the Monte Carlo distribution (png/svg/pdf)")(f)
    f = click.option("--fail-seed", "fail_seed", default=0, show_default=True, type=int,
                     help="seed of the random fault draws")(f)
    f = click.option("--samples", "samples", default=None, type=int, help="Monte Carlo samples [collective 100, infer and serve 20]")(f)
    return click.option("--fail-random", "fail_random", default=None, is_flag=False, flag_value="default",
                        help="random faults from per-component failure rates: 'default' (sourced/ASSUMPTION FIT and "
                             "MTTR per optic, switch, chip), or overrides optic=FIT,chip=mtbf:1e5h,x10")(f)


def _routing_note(fab) -> str | None:
    """One line on how routing reacted to the faults (``FaultedRouter.stats``), or None on a healthy fabric."""
    st = getattr(fab.router, "stats", None)
    if not isinstance(st, dict) or "next_shortest" not in st:
        return None
    ex = ", ".join(f"{fab.nodes[a]}->{fab.nodes[b]}" for a, b in list(dict.fromkeys(fab.router.fallback_pairs))[:3])
    return (f"# routing under faults: {st['pairs']:,} pairs routed, {st['ecmp_reduced']:,} on fewer equal-cost paths "
            f"(ECMP over the survivors), {st['next_shortest']:,} on next-shortest paths (no shortest path survived"
            + (f", e.g. {ex})" if ex else ")"))


def _whatif_fabric(fab, fail: tuple[str, ...] = (), straggler: str | None = None, seed: int = 0):
    """``fab`` with the --fail faults and --straggler speeds applied; one line on stderr says what."""
    if fail:
        fab = fab.with_faults(list(fail))
        for note in fab.meta.get("fault_notes", []):
            click.echo(f"# fault {note}", err=True)
    if straggler:
        fab = fab.with_stragglers(straggler, seed)
        sp = fab.meta.get("chip_speed")
        if sp is not None:
            click.echo(f"# stragglers: {int((sp < 1).sum())} chips below nominal speed, slowest {sp.min():g}", err=True)
    return fab


@main.group("topo")
def topo_group() -> None:
    """Fabrics: list, show a summary, plot, export."""


@topo_group.command("list")
def topo_list() -> None:
    """List the bundled fabrics (topologies/*.yaml)."""
    import topo

    fabrics = topo.describe_fabrics()
    width = max(map(len, fabrics), default=0)  # one column however long a name (trn3-ultraserver-gen1)
    for name, desc in fabrics.items():
        click.echo(f"{name:<{width}}  {desc}")


@topo_group.command("show")
@click.argument("fabric")
@click.option("--set", "sets", multiple=True, help=_SET_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (SI units).")
@click.option("--fail", "fail", multiple=True,
              help="fail or degrade parts (KIND:TARGET[@FACTOR], e.g. plane:3, chip:c5); shows what was lost")
def topo_show(fabric: str, sets: tuple[str, ...], as_json: bool, fail: tuple[str, ...] = ()) -> None:
    """Summarise FABRIC (a bundled name or a YAML path): counts, bandwidths, bisection, diameter."""

    import topo
    from topo.summary import format_summary, summarize

    fab = topo.load(fabric, **_topo_overrides(sets))
    if fail:
        from topo.faults import fault_summary, format_fault_summary

        lost = fault_summary(fab, fab.with_faults(list(fail)))
        click.echo(_json_text(lost, indent=1, default=str) if as_json else format_fault_summary(lost))
        return
    s = summarize(fab)
    click.echo(_json_text(s, indent=1, default=str) if as_json else format_summary(s))


@topo_group.command("plot")
@click.argument("fabric")
@click.option("-o", "--output", default="fabric.png", show_default=True, help="Image file (png, svg, pdf).")
@click.option("--set", "sets", multiple=True, help=_SET_HELP)
@click.option("--fail", "fail", multiple=True, help="mark failed/degraded parts (KIND:TARGET[@FACTOR], repeatable)")
def topo_plot(fabric: str, output: str, sets: tuple[str, ...], fail: tuple[str, ...] = ()) -> None:
    """Draw FABRIC: every node when small, grouped trays/leaves/planes when large."""
    import topo
    from topo.draw import plot_fabric

    fab = topo.load(fabric, **_topo_overrides(sets))
    if fail:
        from topo.faults import plot_faults

        plot_faults(fab, fab.with_faults(list(fail)), output)
        click.echo(f"wrote {output}")
        return
    plot_fabric(fab, output)
    click.echo(f"wrote {output}")


@topo_group.command("export")
@click.argument("fabric")
@click.option("--format", "fmt", type=click.Choice(["graphml", "json"]), default=None,
              help="Output format (default: from the file suffix; one the suffix contradicts is an error).")
@click.option("-o", "--output", required=True, help="Output file.")
@click.option("--set", "sets", multiple=True, help=_SET_HELP)
@click.option("--fail", "fail", multiple=True, help="export the faulted fabric (KIND:TARGET[@FACTOR], repeatable)")
def topo_export(fabric: str, fmt: str | None, output: str, sets: tuple[str, ...], fail: tuple[str, ...] = ()) -> None:
    """Write FABRIC's graph as GraphML or node-link JSON (bandwidth bytes/s per direction, latency s)."""
    import topo
    from topo.export import export_fabric

    path = export_fabric(_whatif_fabric(topo.load(fabric, **_topo_overrides(sets)), fail), output, fmt)
    click.echo(f"wrote {path}")


# ====================================================================== traffic commands (issue 3)
# (traffic section: `scaleup traffic`)


@main.command("traffic")
@click.option("--fabric", "fabric", default="maia200", show_default=True, help="fabric preset or YAML path")
@click.option("--pattern", default="permutation", show_default=True,
              type=click.Choice(["ring", "permutation", "all_to_all", "all-to-all", "incast", "tornado",
                                 "bit_reversal", "bit-reversal"]),
              help="traffic pattern over all chips")
@click.option("--size", default="64MiB", show_default=True, help="bytes per flow, e.g. 64MiB, 1MB")
@click.option("--spread", default=0.0, show_default=True, type=float,
              help="unequal sizes: uniform in size x [1-spread, 1+spread]")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of permutation, sizes, hash routing")
@click.option("--routing", default="ecmp", show_default=True,
              type=click.Choice(["ecmp", "ecmp-subflows", "hash"]),
              help="ecmp: even spray over equal-cost paths (one rate per flow); ecmp-subflows: one "
                   "independent sub-flow per path; hash: one path per flow")
@click.option("--k", "k", default=None, type=int, help="incast: number of senders (default all others)")
@click.option("--top", default=5, show_default=True, type=int, help="how many hottest links to list")
@click.option("--plot", "plot", default=None, help="write a link-utilisation heatmap (png/svg/pdf)")
@click.option("--set", "sets", multiple=True, help="override a key of the fabric file (repeatable)")
@_fail_options
def traffic_cmd(fabric, pattern, size, spread, seed, routing, k, top, plot, sets, fail=(), straggler=None) -> None:
    """Run a synthetic traffic pattern on a fabric with max-min contention; print completion times
    (us), per-chip throughput vs injection bandwidth (GB/s) and the hottest links."""
    import topo
    from topo.draw import check_figure_path
    from traffic import format_report, plot_utilisation, run_pattern
    from traffic.routing import RouteBudgetError

    if plot:
        check_figure_path(plot, "--plot")
    if top < 0:
        raise topo.SpecError(f"--top: must be >= 0, got {top}")
    if k is not None and pattern != "incast":
        raise topo.SpecError(f"--k: applies to --pattern incast only, not {pattern!r}")
    size_bytes = _size_opt(size, "--size")
    fab = _whatif_fabric(topo.load(fabric, **_topo_overrides(sets)), fail, straggler, seed)
    try:
        rep = run_pattern(fab, pattern, size_bytes, seed=seed, routing=routing, spread=spread, k=k)
    except RouteBudgetError as exc:  # its message spells the fix in Python (routing='hash'): say it as options
        raise topo.CapacityError(_route_budget_cli(exc)) from None
    click.echo(format_report(fab, rep, top=top))
    if fail and (note := _routing_note(fab)):
        click.echo(note)
    if plot:
        click.echo(f"wrote {plot_utilisation(fab, rep, plot)}")


def _route_budget_cli(exc) -> str:
    """A :class:`traffic.routing.RouteBudgetError` as ``scaleup traffic`` words it: the fix as options the user can
    type (``--routing hash``), not the Python spelling (``routing='hash'``) of its message."""
    from traffic.routing import MAX_HASH_EDGES, MAX_ROUTE_EDGES

    fewer = "fewer flows (a smaller fabric, or --pattern permutation / ring: one flow per chip)"
    if exc.routing == "hash":  # every path (ecmp) holds at least as many entries: only fewer flows help
        return (f"--routing hash: {exc.flows:,} flows would need about {exc.entries:.3g} path-edge entries (one path "
                f"per flow; ~{exc.gib:,.0f} GiB; limit {exc.limit:.0e}); use {fewer}")
    if exc.hash_entries > MAX_HASH_EDGES:  # one path per flow is over its budget too: only fewer flows help
        fix = (f"use {fewer}; --routing hash (one path per flow) would still need about {exc.hash_entries:.3g} "
               f"(limit {MAX_HASH_EDGES:.0e})")
    else:
        fix = f"use --routing hash (one path per flow) or {fewer}"
    if exc.routing == "ecmp-subflows":
        if exc.entries <= MAX_ROUTE_EDGES:  # the even spray routes the same paths within its larger budget
            fix = "use --routing ecmp (the even spray: same answers under symmetric load), " + fix[4:]
        return (f"--routing ecmp-subflows: {exc.flows:,} flows would need about {exc.entries:.3g} path-edge entries "
                f"(one sub-flow per equal-cost path; limit {exc.limit:.0e}); {fix}")
    return (f"--routing {exc.routing}: {exc.flows:,} flows over every equal-cost path would need about "
            f"{exc.entries:.3g} path-edge entries (~{exc.gib:,.0f} GiB; limit {exc.limit:.0e}); {fix}")


# ====================================================================== collective commands (issue 4)
# (collective section: `scaleup collective all-reduce|...`)


def _route_budget_collective_cli(exc, coll: str, algorithms: str, concurrent: bool, inter: str | None) -> str:
    """A :class:`traffic.routing.RouteBudgetError` as ``scaleup collective`` words it: the fix as the options that
    command has (--algorithm, --group-size, --concurrent-groups, --inter), not the Python spelling of its message
    (``routing='hash'``: the collective CLI has no routing option; every route is ECMP)."""
    from collectives import REGISTRY, algorithms_for

    asked = [a.strip() for a in algorithms.split(",") if a.strip()]
    # the collective's algorithms with no quadratic step (max_step_flows: the direct family's m(m-1)), parallel
    # steps first (a serial one, pairwise, solves m-1 distinct steps: slow on thousands of ranks)
    fewer = sorted((a for a in algorithms_for(coll) if REGISTRY[(coll, a)].max_step_flows is None and a not in asked),
                   key=lambda a: REGISTRY[(coll, a)].serial)
    fixes = []
    if fewer:
        names = fewer[:3]
        fixes.append("an algorithm with fewer flows per step (--algorithm "
                     + (", ".join(names[:-1]) + " or " if len(names) > 1 else "") + f"{names[-1]})")
    if inter == "direct":
        fixes.append("--inter ring")
    fixes.append("a smaller --group-size")
    if concurrent:
        fixes.append("fewer groups at once (drop --concurrent-groups)")
    fix = ", ".join(fixes[:-1]) + (" or " if len(fixes) > 1 else "") + fixes[-1]
    return (f"--algorithm {algorithms}: a step of {exc.flows:,} flows over every equal-cost path would need about "
            f"{exc.entries:.3g} path-edge entries (~{exc.gib:,.0f} GiB; limit {exc.limit:.0e}); use {fix}")


def _algorithm_rows(collective: str | None = None) -> list[tuple[str, str]]:
    """(name, summary and options) of the registered algorithms (collectives.algorithms.REGISTRY)."""
    from collectives import COLLECTIVES, REGISTRY, algorithms_for

    rows = []
    for coll in COLLECTIVES if collective is None else (collective,):
        for name in algorithms_for(coll):
            rec = REGISTRY[(coll, name)]
            opts = ", ".join(f"{o.name}={o.default!r}" for o in rec.options)
            label = name if collective else f"{_command_of(coll)} {name}"
            rows.append((label, rec.summary + (f" [{opts}]" if opts else "")))
    return rows


class _CollectiveGroup(click.Group):
    """The ``collective`` group: its --help ends with the registered algorithms (read from the registry)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Algorithms (collectives.REGISTRY; `scaleup collective list`)"):
            formatter.write_dl(_algorithm_rows())
        super().format_epilog(ctx, formatter)


class _CollectiveCommand(click.Command):
    """A collective subcommand: its --help ends with that collective's algorithms and their options."""

    collective = ""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Algorithms (--algorithm)"):
            formatter.write_dl(_algorithm_rows(self.collective) + [("auto", "simulate the candidates, keep the fastest")])
        super().format_epilog(ctx, formatter)


@main.group("collective", cls=_CollectiveGroup)
def collective_group() -> None:
    """Simulate collectives on a fabric and print an nccl-tests-like table (size, algbw, busbw, bound)."""


#: one line per collective subcommand: what it does, and which options apply (chunks: pipelining of the
#: ring, tree and hierarchical algorithms; root: the rooted collectives)
_COLLECTIVES = {
    "all-reduce": ("all_reduce", "Every rank ends with the element-wise sum of all ranks' buffers.", True, False),
    "all-gather": ("all_gather", "Every rank ends with every rank's shard (size = the gathered buffer).", True, False),
    "reduce-scatter": ("reduce_scatter", "Every rank ends with its shard of the element-wise sum.", True, False),
    "all-to-all": ("all_to_all", "Every rank sends a distinct block to every other rank (MoE dispatch).", False, False),
    "broadcast": ("broadcast", "The root's buffer is copied to every rank of the group.", True, True),
    "reduce": ("reduce", "The element-wise sum of all ranks' buffers lands on the root.", True, True),
    "sendrecv": ("send_recv", "Point to point: one rank sends its buffer to the next.", False, False),
}


def _command_of(coll: str) -> str:
    """The subcommand that runs collective ``coll`` (``send_recv`` -> ``sendrecv``, nccl-tests' name)."""
    return next((cmd for cmd, v in _COLLECTIVES.items() if v[0] == coll), coll.replace("_", "-"))


#: serving stacks with an all-reduce ladder (collectives.stacks.STACKS; a literal keeps `import cli` light)
_STACKS = ("trtllm", "vllm", "sglang")


def _stack_transfer_note(fab) -> str:
    """'; <chip> runs the <fitted chip> presets (...)' where the fabric's chip is not the one the presets were
    fitted on (H200, GB200: collectives.stacks.FAMILY_OF_SYSTEM's transfer rule), else ''."""
    from collectives.stacks import FAMILY_CHIP, FAMILY_OF_CHIP, SYSTEM_OF_CHIP

    fam = FAMILY_OF_CHIP.get(fab.chip.name)
    fitted = FAMILY_CHIP.get(fam or "")
    if fitted is None or SYSTEM_OF_CHIP[fab.chip.name].startswith(fitted):
        return ""
    return (f"; {fab.chip.name} runs the {fitted}-fitted presets (same NVLink generation; held out: "
            "python -m collectives.validation)")


#: collectives whose hierarchical algorithms take intra= / inter= (a literal keeps `import cli` light; tested against
#: the registry)
_INTRA_INTER = ("all_reduce", "all_gather", "reduce_scatter")


#: Python fields that errors shared with collectives.benchmark / collective_monte_carlo start with -> the
#: ``scaleup collective`` option that sets them (as _inline_fleet's ``flags`` for serve's pool options)
_COLLECTIVE_FIELDS = {"group_size": "--group-size", "chunks": "--chunks"}


def _collective_option_names(fn):
    """Run a collective subcommand, an error that starts with a Python field (``group_size: ...``, ``chunks: ...``)
    reworded to start with its option (``--group-size: ...``); its type and the rest of its text kept."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScaleupError as exc:
            msg = str(exc)
            for field, option in _COLLECTIVE_FIELDS.items():
                if msg.startswith(f"{field}: "):
                    exc.args = (option + msg[len(field):],)
                    break
            raise

    return run


def _collective_command(cli_name: str, coll: str, summary: str, has_chunks: bool, has_root: bool) -> None:
    default_k = 2 if coll == "send_recv" else 64
    extra = []
    if has_chunks:
        extra.append(click.option("--chunks", default=None, type=int,
                                  help="pipelining chunks (ring, dbt, hier, inr algorithms)"))
    if has_root:
        extra.append(click.option("--root", default=None, type=int, help="root rank position in the group [0]"))
    if coll in _INTRA_INTER:  # the hierarchical algorithms' sub-algorithms (ASTRA-sim's per-dimension choice)
        extra.append(click.option("--intra", default=None,
                                  help="hier, hier_ml: the algorithm inside each part (tray, torus line): direct, "
                                       "ring or bidir (half of every piece each way round) [direct]"))
        extra.append(click.option("--inter", default=None,
                                  help="hier, hier_ml: the algorithm across parts (all-reduce ring, bidir, hd, dbt, "
                                       "direct; all-gather ring, rd, direct; reduce-scatter ring, hd, direct) "
                                       "[ring]; multirail: auto, direct, ring [auto]"))

    def with_extra(f):
        for deco in reversed(extra):
            f = deco(f)
        return f

    @collective_group.command(cli_name, cls=_CollectiveCommand,
                              help=f"{summary} Simulated over message sizes; prints an nccl-tests-like "
                              "table (time, algbw, busbw, alpha-beta bound).", short_help=summary)
    @click.option("--fabric", default="maia200", show_default=True, help="fabric preset or YAML path")
    @click.option("--group-size", "group_size", default=None, type=int,
                  help="ranks per group: 2, a sender and a receiver [2]; --concurrent-groups runs every pair of "
                       "fab.groups(2) at once" if coll == "send_recv" else
                  f"ranks per group: the first of fab.groups(k) [min({default_k}, chips)]; give the chip "
                  "count for the whole fabric")
    @click.option("--sizes", default="1KiB:4GiB:x4" if coll != "send_recv" else "1KiB:1GiB:x4", show_default=True,
                  help="bytes with a unit: START:STOP[:xF], or a list 1MiB,64MiB (nccl-tests sizes)")
    @click.option("--algorithm", "--algorithms", "algorithms", default="auto", show_default=True,
                  help="comma-separated algorithms (see `scaleup collective list`) or auto")
    @click.option("--placement", default="tray", show_default=True, type=click.Choice(["tray", "strided", "random"]),
                  help="how groups are cut from the fabric")
    @click.option("--concurrent-groups", "--concurrent", "concurrent", is_flag=True,
                  help="run every group of --group-size at once and report the slowest")
    @with_extra
    @click.option("--mode", default="auto", show_default=True, type=click.Choice(["auto", "exact", "steps"]),
                  help="engine mode: exact per-rank dependencies, or bulk-synchronous memoised steps")
    @click.option("--overhead", default=None, help="software overhead per message with a time unit, e.g. 2us [0]")
    @click.option("--ideal", is_flag=True, help="the physics alone: no calibrated communication software (comm:)")
    @click.option("--stack", default=None,
                  help="all-reduce only: trtllm, vllm or sglang: each size runs on the rung the serving stack's TP "
                       "all-reduce ladder picks (its calibrated preset; NCCL above; H100/H200/B200/GB200 fabrics) "
                       "[nccl: the fabric's comm:]")
    @click.option("--dtype", default="float", show_default=True, help="element type for the count column")
    @click.option("--set", "sets", multiple=True, help="override a key of the fabric file (repeatable)")
    @click.option("--measured", is_flag=True,
                  help="add the measured time of each size and the ratio model / measured (nccl-tests, or the "
                       "--stack's table; dgx-h100/h200/b200, gb200-nvl72; the measured extra)")
    @click.option("--csv", "as_csv", is_flag=True, help="print CSV instead of the table")
    @click.option("--json", "as_json", is_flag=True, help="print JSON instead of the table")
    @click.option("--plot", "plot", default=None, help="write busbw vs size per algorithm (png/svg/pdf)")
    @_fail_options
    @_mc_options
    @_collective_option_names
    def cmd(fabric, group_size, sizes, algorithms, placement, concurrent, mode, overhead, ideal, stack, dtype, sets,
            measured, as_csv, as_json, plot, chunks=None, root=None, intra=None, inter=None, fail=(), straggler=None,
            fail_random=None,
            samples=None, fail_seed=0, fail_plot=None) -> None:
        import collectives
        import topo
        from traffic.routing import RouteBudgetError

        if measured and (fail or straggler or fail_random is not None or sets):
            raise topo.SpecError("--measured: the tables measure the bundled, healthy node; drop --fail, "
                                 "--straggler, --fail-random and --set, or drop --measured")

        stack = None if stack == "nccl" else stack
        if stack is not None and stack not in _STACKS:
            raise topo.SpecError(f"--stack: must be nccl, {', '.join(_STACKS)}, got {stack!r}")
        if stack is not None and coll != "all_reduce":
            raise topo.SpecError(f"--stack {stack}: supported by all-reduce only (a serving stack's TP all-reduce "
                                 f"ladder); {cli_name} runs NCCL (the fabric's comm:): drop --stack")
        if stack is not None and fail_random is not None:
            raise topo.SpecError(f"--stack {stack}: not with --fail-random (Monte Carlo runs the fabric's comm:); "
                                 "use --fail for given faults")

        if plot:
            from topo.draw import check_figure_path

            check_figure_path(plot, "--plot")
        size_list = topo.parse_size_range(sizes, "--sizes", require_unit=True)
        opts: dict = {"mode": mode}
        if ideal:
            opts["ideal"] = True
        if overhead is not None:
            opts["overhead"] = _quantity_opt(overhead, "time", "--overhead")
        # under --fail-random the stragglers are drawn anew in every Monte Carlo sample (below)
        fab = _whatif_fabric(topo.load(fabric, **_topo_overrides(sets)), fail,
                             None if fail_random is not None else straggler, fail_seed)
        if chunks is not None:
            opts["chunks"] = chunks
        if root is not None:
            opts["root"] = root
        if intra is not None:
            opts["intra"] = intra
        if inter is not None:
            opts["inter"] = inter
        default_note = ""
        if group_size is None:
            group_size = min(default_k, fab.n_chips)
            default_note = f" (default min({default_k}, chips))"
        elif coll == "send_recv" and group_size != 2:  # the compiler's 'the group must name exactly 2 chips'
            raise topo.SpecError(f"--group-size: sendrecv has one sender and one receiver, give 2 (--concurrent-groups "
                                 f"runs every pair of the fabric at once), got {group_size}")
        algs = [a.strip() for a in algorithms.split(",") if a.strip()]
        if fail_random is not None:  # Monte Carlo over random faults (fleet.whatif), one size at a time

            from fleet.whatif import collective_monte_carlo

            if fail_plot:
                from topo.draw import check_figure_path

                check_figure_path(fail_plot, "--fail-plot")
            out = []
            for sz in size_list:
                try:
                    mc = collective_monte_carlo(coll, fab, sz, group_size, placement=placement, concurrent=concurrent,
                                                rates=fail_random, samples=100 if samples is None else samples,
                                                seed=fail_seed, algorithm=algs[0] if len(algs) == 1 else "auto",
                                                stragglers=straggler, **opts)
                except RouteBudgetError as exc:  # its message says routing='hash': this command has no routing
                    raise topo.CapacityError(_route_budget_collective_cli(exc, coll, algorithms, concurrent,
                                                                          inter)) from None
                out.append(mc)
                if not as_json:
                    click.echo(mc.table())
            if as_json:
                click.echo(_json_text([m.to_dict() for m in out], indent=1))
            if fail_plot:
                out[-1].plot(fail_plot)
                click.echo(f"wrote {fail_plot}", err=True)
            return
        if stack is not None:
            opts["stack"] = stack
        skipped: dict[str, str] = {}  # an algorithm of a list that cannot run on this group: the others still print
        try:
            rows = collectives.benchmark(coll, fab, size_list, group_size, algs, placement, concurrent, dtype,
                                         measured=measured, skipped=skipped, **opts)
        except RouteBudgetError as exc:  # its message says routing='hash': this command has no routing option
            raise topo.CapacityError(_route_budget_collective_cli(exc, coll, algorithms, concurrent, inter)) from None
        not_run = [f"# not run: {a}: {why.removeprefix(f'{a}: ')}" for a, why in skipped.items()]  # no 'hier: hier:'
        if as_json or as_csv:
            for line in not_run:
                click.echo(line, err=True)
        if as_json:
            click.echo(collectives.to_json(rows))
        elif as_csv:
            click.echo(collectives.to_csv(rows))
        else:
            n_groups = rows[0]["groups"] if rows else 1
            conc = f", {n_groups} groups at once (slowest shown)" if concurrent else ""
            if coll in ("broadcast", "reduce"):  # nccl-tests prints the root of a rooted collective
                conc = f", root {0 if root is None else root} (position in the group)" + conc
            click.echo(f"# {coll} on {fab.name}: {rows[0]['n'] if rows else group_size} ranks per group{default_note}, "
                       f"placement {placement}{conc}; busbw per nccl-tests PERFORMANCE.md; "
                       + (f"faults: {', '.join(fail)}; " if fail else "")
                       + (f"stragglers: {straggler}; " if straggler else "")
                       + ("ideal: the physics alone" if ideal else
                          f"serving stack {stack}: its TP all-reduce ladder (collectives.stacks; algorithm = "
                          f"<stack>:<rung>), NCCL (comm {collectives.comm_of(fab).name}) above"
                          + _stack_transfer_note(fab) if stack else
                          f"calibrated comm: {collectives.comm_of(fab).name}{_comm_changes_note(fab)}"
                          f"{_link_efficiency_note(fab)}"))
            if measured:
                from collectives.validation import measured_times

                src = measured_times(fab, coll, rows[0]["n"] if rows else group_size, [], stack)[2]
                click.echo(f"# measured: {src}; ~ = interpolated between the table's sizes, - = off its grid; "
                           "ratio = time / measured")
            click.echo(collectives.format_table(rows))
            for line in not_run:
                click.echo(line)
            if fail and (note := _routing_note(fab)):
                click.echo(note)
        if plot:
            collectives.plot_busbw(rows, plot, title=f"{coll} on {fab.name}, {group_size} ranks")
            click.echo(f"wrote {plot}", err=True)

    cmd.collective = coll  # its --help lists this collective's registered algorithms


for _cli, (_coll, _summary, _chunks, _root) in _COLLECTIVES.items():
    _collective_command(_cli, _coll, _summary, _chunks, _root)


@collective_group.command("list")
def collective_list() -> None:
    """List the registered algorithms of every collective."""
    import collectives

    for coll, algs in collectives.describe().items():
        click.echo(_command_of(coll))  # the subcommand's name, as `scaleup collective <it>` takes it
        for name, doc in algs.items():
            click.echo(f"  {name:<9} {doc}")


@main.command("calibrate")
@click.option("--fabric", default=None,
              help="fabric preset or YAML path whose chips ran the measurements [--stack: the system's bundled one]")
@click.option("--measurements", "measurements", multiple=True, required=True,
              help="nccl-tests stdout file, CSV/Parquet of (collective, ranks, bytes, seconds), or "
                   "aiconfigurator:<system> / aiconfigurator-custom:<system> (extra scaleup-sim[measured]); repeatable; "
                   "with --stack: aiconfigurator-<stack>:<system> (trtllm: aiconfigurator-custom:) or one file")
@click.option("--stack", default=None,
              help="trtllm, vllm or sglang: fit a serving stack's all-reduce presets (trtllm-*, vllm-*(-symm), sglang-*) on its TP "
                   "all-reduce table: each point on the rung its ladder runs (collectives.stacks.calibrate_stack)")
@click.option("--collective", "collective_name", default=None,
              help="collective of nccl-tests stdout that does not name its binary (all_reduce, ...)")
@click.option("--name", default=None, help="name of the fitted comm block [<fabric>-fit]")
@click.option("--algorithms", "algorithm_sets", multiple=True,
              help="COLLECTIVE=ALG[,ALG...]: the algorithms the measured library runs for that collective "
                   "(repeatable; default NCCL's: all_reduce=ring,inr, all_gather=ring, ...; e.g. "
                   "all_reduce=ring,direct for a full mesh whose library keeps every link busy)")
@click.option("-o", "--output", default=None, help="write the fitted comm: block (YAML) to this file")
@click.option("--set", "sets", multiple=True, help="override a key of the fabric file (repeatable)")
def calibrate_cmd(fabric, measurements, stack, collective_name, name, algorithm_sets, output, sets) -> None:
    """Fit a platform's communication software (comm: block) to measured collective times; print the block
    and the fit error per size bucket. With --stack: a serving stack's all-reduce presets instead."""
    import collectives
    import topo

    if stack is not None:
        if stack not in _STACKS:
            raise topo.SpecError(f"--stack: must be one of {', '.join(_STACKS)}, got {stack!r}")
        _calibrate_stack_cmd(stack, fabric, measurements, collective_name, name, output, sets)
        return
    if fabric is None:
        raise topo.SpecError("--fabric: required (the fabric whose chips ran the measurements), unless --stack")
    fab = topo.load(fabric, **_topo_overrides(sets))
    src = [m if m.startswith("aiconfigurator") else m for m in measurements]
    df = collectives.calibrate_module.read_measurements(src if len(src) > 1 else src[0], collective_name)
    algorithms = _algorithm_sets(algorithm_sets)
    cal = collectives.calibrate(fab, df, name=name, source=f"fit: {', '.join(measurements)}", algorithms=algorithms)
    text = cal.yaml()
    if output:
        with open(output, "w") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    click.echo(text)
    click.echo("# fit error (predicted / measured) per size bucket")
    click.echo(cal.table())
    for w in cal.warnings:  # a unit, too few points, links or an algorithm that cannot reach the measurements
        click.echo(f"warning: {w}", err=True)


def _algorithm_sets(items: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    """``--algorithms all_reduce=ring,direct`` (repeatable) as calibrate's ``algorithms=``: NCCL's set for the
    collectives not named (collectives.calibrate_module.NCCL_ALGORITHMS); None when none is given."""
    import collectives
    import topo

    if not items:
        return None
    sets = dict(collectives.calibrate_module.NCCL_ALGORITHMS)
    for item in items:
        coll, eq, algs = item.partition("=")
        coll = coll.strip().replace("-", "_")
        if not eq or not coll or not algs.strip():
            raise topo.SpecError(f"--algorithms: expected COLLECTIVE=ALG[,ALG...], e.g. all_reduce=ring,direct; "
                                 f"got {item!r}")
        known = collectives.algorithms_for(coll)
        if not known:
            raise topo.SpecError(f"--algorithms: unknown collective {coll!r}; use one of "
                                 f"{', '.join(sorted(collectives.calibrate_module.NCCL_ALGORITHMS))}, broadcast, "
                                 "reduce, send_recv")
        names = tuple(a.strip() for a in algs.split(",") if a.strip())
        for a in names:
            if a not in known:
                raise topo.SpecError(f"--algorithms: unknown algorithm {a!r} for {coll}; known: {', '.join(known)}")
        sets[coll] = names
    return sets


def _comm_changes_note(fab) -> str:
    """`` (the preset with call changed)`` when the fabric's comm: block overrides fields of the preset it names
    (``{preset: assumed, call: 8us}`` kept the name ``assumed``), else ``""``."""
    from topo.loader import preset_changes

    comm = getattr(fab, "comm", None)
    changed = preset_changes(comm) if comm is not None else []
    return f" (the preset with {', '.join(changed)} changed)" if changed else ""


def _link_efficiency_note(fab) -> str:
    """Where the fabric's comm preset runs the links at its own fraction of line rate, say so: the fabric's
    ``efficiency`` (a YAML key, ``--set efficiency=``, a sweep's ``fabric.efficiency``) then applies under
    ``--ideal`` only."""
    import numpy as np

    import collectives

    le = collectives.comm_of(fab).link_efficiency
    own = float(np.average(fab.edge_efficiency, weights=fab.edge_bandwidth))
    if le is None or abs(own - le) < 1e-12:
        return " (--ideal: the physics alone)"
    return (f", links at its link_efficiency {le:g} (--ideal: the physics alone, links at the fabric's efficiency "
            f"{own:.3g})")


def _calibrate_stack_cmd(stack: str, fabric: str | None, measurements: tuple[str, ...], collective_name: str | None,
                         name: str | None, output: str | None, sets: tuple[str, ...]) -> None:
    """``scaleup calibrate --stack``: :func:`collectives.stacks.calibrate_stack` on one aiconfigurator-core
    table (``aiconfigurator-<stack>:<system>``) or one file of measurements (the system from --fabric's chip)."""
    import topo
    from collectives.calibrate import comm_yaml
    from collectives.stacks import FAMILY_OF_SYSTEM, SYSTEM_OF_CHIP, calibrate_stack, chip_family

    if name is not None:
        raise topo.SpecError(f"--name: not with --stack {stack} (the fitted blocks keep the presets' names)")
    if len(measurements) != 1:
        raise topo.SpecError(f"--measurements: --stack {stack} fits one table, got {len(measurements)}")
    src = measurements[0]
    fab = topo.load(fabric, **_topo_overrides(sets)) if fabric is not None else None
    rows = None
    if src.startswith("aiconfigurator"):
        kind, _, system = src.partition(":")
        own = ("aiconfigurator", f"aiconfigurator-{stack}") + (("aiconfigurator-custom",) if stack == "trtllm" else ())
        if kind not in own:
            raise topo.SpecError(f"--measurements: --stack {stack} fits {stack}'s own table; use "
                                 f"aiconfigurator-{stack}:<system>, got {src!r}")
        if fab is not None and system in FAMILY_OF_SYSTEM and chip_family(fab) != FAMILY_OF_SYSTEM[system]:
            raise topo.SpecError(f"--fabric: {fab.name!r} ({fab.chip.name}) is not of {system}'s chip family "
                                 f"({FAMILY_OF_SYSTEM[system]}); drop --fabric")
    else:
        if fab is None:
            raise topo.SpecError(f"--fabric: required with --stack {stack} and a file of measurements (its chip "
                                 "picks the ladder)")
        chip_family(fab)
        system = SYSTEM_OF_CHIP[fab.chip.name]
        from collectives.calibrate import read_measurements

        rows = read_measurements(src, collective_name)
    cal = calibrate_stack(stack, system, fabric=fab, measurements=rows)
    text = "---\n".join(comm_yaml(spec) for _, spec in sorted(cal.comms.items()))
    if output:
        with open(output, "w") as f:
            f.write(text)
        click.echo(f"wrote {output}", err=True)
    click.echo(f"# {stack} on {system}: one comm: block per preset its ladder runs (collectives.stacks.calibrate_stack); "
               "NCCL above held fixed")
    click.echo(text)
    click.echo("# fit error (predicted / measured) per rung, ranks and size bucket (nccl: the NCCL preset, not fitted)")
    click.echo(cal.table())


# ====================================================================== inference commands (issue 5)
# (inference section: `scaleup infer`)
@main.command("infer")
@click.option("--model", "model", required=True, help="model preset (llama3.1-70b, ...) or YAML path")
@click.option("--fabric", "fabric", default="maia200", show_default=True, help="fabric preset or YAML path")
@click.option("--tp", default=None, type=int, help="tensor-parallel degree [8; SRAM-only chips: fewest chips that hold the model]")
@click.option("--ep", default=1, show_default=True, type=int, help="expert-parallel degree (1 or a multiple of tp)")
@click.option("--pp", default=None, type=int, help="pipeline stages [1; SRAM-only chips: one per CS-3 wafer / as many as the LPUs need]")
@click.option("--dp", default=None, type=int, help="replicas (default: fill the fabric)")
@click.option("--batch", default=32, show_default=True, type=int, help="sequences per replica")
@click.option("--prompt", default=2048, show_default=True, type=int, help="prompt tokens")
@click.option("--output", "output_len", default=256, show_default=True, type=int, help="output tokens")
@click.option("--dtype", default="fp8", show_default=True, help="weights/activations dtype (fp4, fp8, bf16, ...)")
@click.option("--kv-dtype", default=None, help="KV-cache dtype (default: --dtype)")
@click.option("--overlap/--no-overlap", default=False, show_default=True, help="hide communication behind compute")
@click.option("--price", "--price-per-chip-hour", "price", default=None, type=float, help="$ per chip-hour, all-in: no network added (default: the chip's capex + power, plus "
              "the fabric's switches and optics outside the chip's price: topo show's network capex)")
@click.option("--amortisation-years", default=None, type=float,
              help="years the capex (chip + network) is amortised over, straight line [4: ASSUMPTION]")
@click.option("--power-price", default=None, type=float, help="$ per kWh of electricity [0.08: ASSUMPTION]")
@click.option("--pue", default=None, type=float, help="datacenter power usage effectiveness, >= 1 [1.3: ASSUMPTION]")
@click.option("--power-factor", default=None, type=float,
              help="mean draw over system power (TDP + host share) while serving, in (0, 1] [0.7: ASSUMPTION]; "
                   "sets the energy per token too")
@click.option("--compute-efficiency", default=None, type=float, help="fraction of peak FLOP/s (default: chip's)")
@click.option("--memory-efficiency", default=None, type=float, help="fraction of memory bandwidth (default: chip's)")
@click.option("--compare", default=None, help="comma-separated fabrics to compare side by side")
@click.option("--set", "sets", multiple=True, help=_SET_HELP + " Applies to --fabric and to every --compare fabric.")
@click.option("--stack", default="trtllm", show_default=True,
              type=click.Choice(["trtllm", "vllm", "sglang", "ideal"]),
              help="serving stack profile (kernel efficiencies and overheads); ideal = physics roofline")
@click.option("--ideal", "ideal_flag", is_flag=True,
              help="the physics alone (same as --stack ideal: roofline kernels, collectives without comm: software)")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "measured", "analytic"]),
              help="kernel times: measured tables (aiconfigurator-core extra) where they exist, or analytic")
@click.option("--prices", "prices", default=None, help="YAML of per-chip prices: chip: $/h or {capex, price_per_hour}")
@click.option("--kernels", "kernels", default=None,
              help="kernel table written by `scaleup measure` (CSV/Parquet): measured where it covers an op, "
                   "analytic model elsewhere")
@click.option("--host-per-seq", "host_per_seq", default=None,
              help="host work per sequence per iteration on an x86 host, e.g. 19us (x2.75 on GB200's Grace): an "
                   "iteration takes max(GPU step, host); a sensitivity, default off (docs/inference.md)")
@click.option("--moe-per-seq", "moe_per_seq", default=None,
              help="per-sequence MoE cost per MoE layer per iteration, e.g. 0.2us (default the stack profile's "
                   "calibrated value; 0 turns it off; docs/inference.md)")
@click.option("--speculative", "speculative", default=None,
              help="speculative decoding: mtp:K@A (an MTP / Eagle-style one-layer draft), draft:MODEL:K@A (a smaller "
                   "model, same tokenizer), ngram:K@A (prompt lookup); K proposals per step, A the probability each "
                   "is accepted (an input: it depends on the draft and the data), e.g. mtp:3@0.8; default off")
@click.option("--nearest", "nearest_k", default=0, show_default=True, type=click.IntRange(min=0),
              help="also print the K published measurements most like this deployment (same chip), each "
                   "predicted now, with this model's error there (inference.perf_overview.nearest)")
@click.option("--slo-tpot", "slo_tpot", default=None,
              help="report the largest batch whose TPOT meets this target, e.g. 20ms (bisection over --batch's "
                   "estimate; --batch unused; with --slo-ttft both)")
@click.option("--slo-ttft", "slo_ttft", default=None,
              help="report the largest batch whose TTFT (its prompts prefilled at once) meets this target, e.g. 2s")
@click.option("--json", "as_json", is_flag=True,
              help="print the figures as JSON, with per-op (ops) and per-collective (collectives) rows")
@_fail_options
@_mc_options
def infer_cmd(model, fabric, tp, ep, pp, dp, batch, prompt, output_len, dtype, kv_dtype, overlap, price,
              compute_efficiency, memory_efficiency, compare, sets, stack, ideal_flag, backend, prices, kernels,
              host_per_seq, moe_per_seq, speculative, nearest_k, as_json, fail=(), straggler=None, fail_random=None, samples=None, fail_seed=0,
              fail_plot=None, amortisation_years=None, power_price=None, pue=None, power_factor=None, slo_tpot=None,
              slo_ttft=None) -> None:
    """Token latency, throughput, memory, energy and cost of one deployment (inference.estimate); with --slo-tpot /
    --slo-ttft, of the largest batch that meets them (inference.largest_batch)."""

    if ideal_flag:
        given = click.get_current_context().get_parameter_source("stack") != click.core.ParameterSource.DEFAULT
        if given and str(stack).lower() != "ideal":  # as `scaleup collective --ideal --stack` says
            raise ScaleupError(f"ideal: --stack {stack} is a serving stack, --ideal the physics without one; "
                               "drop one")
        stack = "ideal"
    if backend == "measured" and str(stack).lower() == "ideal":  # it silently ran the roofline, reading no table
        raise ScaleupError(f"backend: --backend measured reads measured kernel tables, "
                           f"{'--ideal' if ideal_flag else '--stack ideal'} is the roofline without them; drop one")

    if compare is not None and \
            click.get_current_context().get_parameter_source("fabric") != click.core.ParameterSource.DEFAULT:
        # the table is --compare's fabrics alone: a --fabric beside it was dropped without a word
        # the hint read "--compare maia200,maia200,nosuch" when --compare already named the fabric
        names = [f.strip() for f in compare.split(",") if f.strip()]
        hint = ",".join(names if fabric in names else [fabric, *names])
        raise ScaleupError(f"--fabric {fabric} and --compare: --compare lists every fabric of the table; put it there "
                           f"(--compare {hint}) and drop --fabric")
    if sets:  # --set key=value: topo.load(name, key=value), as every command that names a fabric
        import topo

        overrides = _topo_overrides(sets)
        if compare is not None:
            compare = [topo.load(f.strip(), **overrides) for f in compare.split(",") if f.strip()]
        else:
            fabric = topo.load(fabric, **overrides)
    if fail or straggler:  # what-if (issue 13): the deployment on a faulted fabric / with slow chips
        import topo

        if compare is not None:
            raise ScaleupError("--fail/--straggler: apply to one --fabric, not to --compare")
        fab = _whatif_fabric(topo.load(fabric) if isinstance(fabric, str) else fabric, fail, straggler)
        fabric = fab

    knobs = {"stack": stack, "backend": backend}
    sp = fabric.meta.get("chip_speed") if straggler else None
    if sp is not None:  # a replica's step is as slow as its slowest chip (the slowest replica up reported): every
        knobs["speed"] = sp  # kernel, measured-table ones included, takes 1 / speed as long
    if kernels is not None:
        knobs["kernels"] = kernels
    if prices is not None:
        knobs["prices"] = prices
    if compute_efficiency is not None:
        knobs["compute_efficiency"] = compute_efficiency
    if memory_efficiency is not None:
        knobs["memory_efficiency"] = memory_efficiency
    for key, v in (("amortisation_years", amortisation_years), ("power_price", power_price), ("pue", pue),
                   ("power_factor", power_factor)):  # the capex basis's terms (the cost basis line names them)
        if v is not None:
            knobs[key] = v
    for key, v, flag in (("host_per_seq", host_per_seq, "--host-per-seq"), ("moe_per_seq", moe_per_seq, "--moe-per-seq")):
        if v is not None:
            knobs[key] = _quantity_opt(v, "time", flag)
            if not 0 <= knobs[key] < float("inf"):
                raise ScaleupError(f"{flag}: must be a finite time >= 0 (e.g. 2us; 0 turns it off), got {v!r}")
    if speculative is not None:
        if nearest_k:  # the published rows ran without it: their errors would be this option's, not the model's
            raise ScaleupError("--nearest: the published rows ran without speculative decoding; drop --speculative "
                               "or --nearest")
        knobs["speculative"] = speculative
    for key, v, opt in (("slo_tpot", slo_tpot, "--slo-tpot"), ("slo_ttft", slo_ttft, "--slo-ttft")):
        if v is not None:  # the largest batch meeting the targets (inference.largest_batch); --batch unused
            if fail_random is not None or nearest_k:
                raise ScaleupError(f"{opt}: applies to an estimate, not to "
                                   f"{'--fail-random' if fail_random is not None else '--nearest'}; drop one of them")
            knobs[key] = _time_opt(v, opt)
    from inference import compare as compare_fabrics
    from inference import compare_table

    if fail_random is not None:  # Monte Carlo of TPOT under random faults (issue 13, fleet.whatif)
        from fleet.whatif import infer_monte_carlo

        if compare is not None:
            raise ScaleupError("--fail-random: applies to one --fabric, not to --compare")
        if nearest_k:
            raise ScaleupError("--nearest: applies to a plain estimate, not to --fail-random; drop one of them")
        if fail_plot:
            from topo.draw import check_figure_path

            check_figure_path(fail_plot, "--fail-plot")
        mc = infer_monte_carlo(model, fabric, rates=fail_random, samples=20 if samples is None else samples, seed=fail_seed, tp=tp, ep=ep,
                               pp=pp, dp=dp, batch=batch, prompt=prompt, output=output_len, dtype=dtype,
                               kv_dtype=kv_dtype, overlap=overlap, price_per_chip_hour=price, **knobs)
        click.echo(_json_text(mc.to_dict(), indent=2) if as_json else mc.table())
        if fail_plot:
            mc.plot(fail_plot)
            click.echo(f"wrote {fail_plot}", err=True)
        return
    unfit: dict[str, str] | None = {} if compare is not None else None  # --compare: a column that does not fit
    reports = compare_fabrics(model, compare if compare is not None else [fabric], tp=tp, ep=ep, pp=pp, dp=dp,
                              batch=batch, prompt=prompt, output=output_len, dtype=dtype, kv_dtype=kv_dtype,
                              overlap=overlap, price_per_chip_hour=price, unfit=unfit, **knobs)
    near = [_nearest_rows(model, r, nearest_k, stack, knobs) for r in reports] if nearest_k else None
    if as_json:
        # provenance: the stack/backend, tables read, cost basis and every assumption the text report prints
        out = [{**{k: (None if isinstance(v, float) and v != v else v) for k, v in r.to_dict().items()},  # NaN: null
                **r.breakdown(), "provenance": r.provenance} for r in reports]
        if near is not None:
            for o, rows in zip(out, near):
                o["nearest"] = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
                                for row in rows]
        out += [{"fabric": name, "fits": False, "reason": why} for name, why in (unfit or {}).items()]
        click.echo(_json_text(out[0] if len(out) == 1 else out, indent=2))
        return
    if len(reports) == 1:
        click.echo(reports[0].table())
        for name, why in (unfit or {}).items():
            click.echo(f"not compared, the deployment does not fit: [{name}] {why}")
    else:
        click.echo(compare_table(reports, unfit))
    if near is not None:
        from inference.perf_overview import format_nearest

        for r, rows in zip(reports, near):
            click.echo("")
            click.echo((f"{r.fabric}: " if len(reports) > 1 else "") + format_nearest(rows, r.chip))


def _nearest_rows(model, report, k: int, stack: str | None, knobs: dict) -> list[dict]:
    """``scaleup infer --nearest K``: the published rows nearest ``report``'s deployment, predicted with the
    run's backend and host knob under TensorRT-LLM (the stack that measured them; ``ideal`` stays ideal)."""
    from inference.perf_overview import nearest

    keep = {key: knobs[key] for key in ("backend", "host_per_seq", "moe_per_seq") if key in knobs}
    row_stack = "ideal" if stack == "ideal" else None
    return nearest(model, report.chip, report.prompt, report.output, dtype=report.dtype,
                   gpus=report.chips_per_replica, k=k, stack=row_stack, **keep)


# ====================================================================== measure command (issue 17)
# (measure section: `scaleup measure`)
@main.command("measure")
@click.option("--model", "model", default=None, help="model preset or YAML whose kernels to time")
@click.option("--tp", default=1, show_default=True, type=int, help="tensor-parallel degree of the shapes")
@click.option("--ep", default=1, show_default=True, type=int, help="expert-parallel degree of the MoE shapes")
@click.option("--out", "out", required=True, help="table to write or resume (.csv or .parquet)")
@click.option("--device", default="cuda", show_default=True, help="cuda, cuda:N (ROCm too) or cpu (dry run)")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "torch", "numpy"]),
              help="torch (extra scaleup-sim[measure]) or numpy (host only, a dry run)")
@click.option("--dtypes", default=None, help="GEMM dtypes, comma-separated [bf16 + every lower precision the device runs]")
@click.option("--kinds", default=None,
              help="sections: floor,gemm,elementwise,attn_decode,attn_prefill,moe,hbm,collective [all]")
@click.option("--max-m", "max_m", default=None, type=int, help="largest GEMM/elementwise/MoE token count [16384; cpu: 64]")
@click.option("--repeats", default=None, type=int, help="samples per point (the median is kept)")
@click.option("--time-limit", "time_limit", default=None, help="stop after this long (e.g. 110s); run again to resume")
@click.option("--compare", "do_compare", is_flag=True,
              help="print each measured kernel beside the analytic model and the deviation (without --model: "
                   "compare the existing --out table only)")
@click.option("--chip", default=None, help="chip of the analytic model for --compare: a preset, or a fabric (name or "
                                           "YAML) whose chip it takes [from the device name]")
@click.option("--stack", default="trtllm", show_default=True, type=click.Choice(["trtllm", "vllm", "sglang"]),
              help="stack profile of the analytic model for --compare")
@click.option("--progress/--no-progress", default=True, show_default=True, help="progress bar on stderr")
@click.option("--ranks", default=None, type=int,
              help="processes of the collectives [every GPU torch sees; cpu: 1]; --device cpu --ranks 2: gloo dry run")
def measure_cmd(model, tp, ep, out, device, backend, dtypes, kinds, max_m, repeats, time_limit, do_compare, chip,
                stack, progress, ranks) -> None:
    """Time a model's kernels, memory and collectives on this machine; write one versioned table
    (inference.measure.measure); --compare sets it beside the analytic model."""
    from inference import measure as _measure
    from topo import SpecError

    if model is None and not do_compare:
        raise SpecError("model: required (e.g. --model llama3.1-8b), or --compare to compare an existing --out table")
    if model is not None:
        limit = _time_opt(time_limit, "time_limit") if time_limit is not None else None
        res = _measure.measure(model, out, tp=tp, ep=ep, dtypes=dtypes, device=device, backend=backend, kinds=kinds,
                               max_m=max_m, repeats=repeats, time_limit=limit, progress=progress, ranks=ranks)
        click.echo(res.summary())
        if res.collectives:
            click.echo(_measure.format_collectives(res.collectives, str(res.provenance.get("device", ""))))
    if do_compare:
        rows = _measure.compare(out, chip, stack)
        click.echo(_measure.compare_table(rows, chip or ""))


# ====================================================================== sweep and plot commands (issue 6)
# (sweep section: `scaleup sweep`, `scaleup plot`)
@main.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out", default=None, help="results file, .parquet or .csv [SPEC stem].parquet")
@click.option("--workers", "-j", type=int, default=None, help="local worker processes [core count]; 1 = in process")
@click.option("--scheduler", default=None, help="Dask: 'local' (start a LocalCluster) or tcp://HOST:8786")
@click.option("--resume", is_flag=True, help="keep the finished points already in --out; run the rest")
@click.option("--dry-run", is_flag=True, help="expand the grid and print the points; run nothing")
@click.option("--progress/--no-progress", default=None,
              help="progress bar on stderr (points, rate, ETA, failures) [when stderr is a terminal]; "
                   "--progress also in a log file")
def sweep_cmd(spec: str, out: str | None, workers: int | None, scheduler: str | None, resume: bool,
              dry_run: bool, progress: bool | None) -> None:
    """Run a sweep SPEC (a YAML path, or a bundled example by name: busbw-maia200-vs-gb200, tp-llama70b,
    ...; see examples/) and write one row per point to --out.

    Exit code 0 when every point succeeded, 1 when some failed (their error is in the row), 2 for a bad
    spec, 130 when interrupted (143 on SIGTERM; finished rows are kept; rerun with --resume).
    """
    import os

    import sweep

    if dry_run:
        points = sweep.expand_points(spec)
        parsed = sweep.load_spec(spec)
        dups = len(sweep.spec.expand_raw(parsed)) - len(points)  # overlapping grids: each point runs once
        click.echo(f"{len(points)} points (job {parsed.job})" + (f"; {dups} duplicate points dropped" if dups else ""))
        for p in points[:20]:
            click.echo(f"  {p.index:6d} {p.id}  " + " ".join(f"{k}={v}" for k, v in p.params.items()))
        if len(points) > 20:
            click.echo(f"  ... {len(points) - 20} more")
        return
    if out is None:
        out = os.path.splitext(os.path.basename(spec))[0] + ".parquet"
    import signal

    class Terminated(KeyboardInterrupt):
        """SIGTERM (kill, timeout, a batch system's time limit), handled as Ctrl-C: finished rows are written."""

    def on_term(signum: int, frame: object) -> None:
        raise Terminated()

    before = signal.signal(signal.SIGTERM, on_term)  # unhandled, it left only the journal (and orphaned workers)
    try:
        res = sweep.run_sweep(spec, out, workers=workers, scheduler=scheduler, resume=resume, progress=progress)
    except KeyboardInterrupt as exc:
        sys.exit(143 if isinstance(exc, Terminated) else 130)
    finally:
        signal.signal(signal.SIGTERM, before)
    click.echo(
        f"{res.total} points: {res.ran} run, {res.skipped} kept, {res.failed} failed in {res.seconds:.1f} s "
        f"({res.rate:.1f} points/s) -> {res.path}"
    )
    if res.failed:  # say why, not only how many: the errors were only in the table's error column
        errs = res.table()["error"].dropna().astype(str)
        errs = errs[errs != ""]
        if len(errs):
            top = errs.value_counts()
            click.echo(f"most common error ({top.iloc[0]} of {res.failed} failed points): {top.index[0]}"
                       + (f"; {len(top) - 1} other kind{'' if len(top) == 2 else 's'} in the error column" if len(top) > 1 else ""), err=True)
        sys.exit(1)


@main.command("plot")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", "-k", default="xy", show_default=True,
              type=click.Choice(["xy", "busbw", "latency-breakdown", "cost-pareto"]),
              help="xy: --x/--y; busbw: busbw vs size per algorithm; latency-breakdown: stacked bars; "
                   "cost-pareto: $/Mtok vs TPOT with the Pareto front")
@click.option("--x", "x", default=None, help="column on the x axis (xy, cost-pareto: tpot_s or ttft_s)")
@click.option("--y", "y", default=None, help="column on the y axis (e.g. busbw_GBps, time_us)")
@click.option("--hue", default=None, help="column: one line/colour per value (a,b: one per combination)")
@click.option("--facet", default=None, help="column: one panel per value")
@click.option("--logx/--no-logx", default=None, help="log x axis [auto: log2 with byte labels for sizes]")
@click.option("--logy/--no-logy", default=False, help="log y axis")
@click.option("--phase", default="decode", type=click.Choice(["decode", "prefill"]),
              help="latency-breakdown: which step")
@click.option("--title", default=None, help="figure title")
@click.option("--where", default=None, help='row filter, a pandas query, e.g. "batch == 64"')
@click.option("--output", "-o", "out", required=True, help="figure file: .png, .svg or .pdf")
def plot_cmd(results: str, kind: str, x: str | None, y: str | None, hue: str | None, facet: str | None,
             logx: bool | None, logy: bool, phase: str, title: str | None, where: str | None, out: str) -> None:
    """Draw a figure from a sweep's RESULTS (.parquet or .csv), or a `scaleup collective --csv/--json` table."""
    from sweep import plot as sweep_plot

    kw = {"x": x, "y": y, "hue": hue, "facet": facet, "logx": logx, "logy": logy, "title": title, "where": where}
    if kind == "latency-breakdown":
        kw["phase"] = phase
    if kind in ("busbw", "cost-pareto") and y is None:
        kw.pop("y")
    if kind == "cost-pareto":
        kw["logx"] = bool(logx)
        if x is None:
            kw.pop("x")
    click.echo(f"wrote {sweep_plot.plot(results, out, kind=kind, **kw)}")  # as topo plot / --plot say


# ====================================================================== serving commands (issue 7)
# (serving section: `scaleup serve`, `scaleup plan`)
def _time_opt(value: str, field: str, example_unit: str = "ms") -> float:
    """A positive time option; a bare number is refused (``--slo-tpot 50`` would mean 50 s), its hint written in
    ``example_unit`` (``--duration 600``: '600s', not '600ms', a window with no requests in it)."""
    from topo import UnitError, parse_positive

    try:
        return parse_positive(value, "time", field, require_unit=True)
    except UnitError as exc:
        bare = f"'{str(value).strip()}ms'"
        if example_unit == "ms" or "has no unit" not in str(exc) or bare not in str(exc):
            raise
        raise UnitError(str(exc).replace(bare, f"'{str(value).strip()}{example_unit}'", 1)) from None


def _count_opt(value: str, field: str) -> int:
    """An integer option >= 1 (``--concurrency 64``; ``1e6`` too, an integer in scientific notation, as the Python
    API takes ``1e6``); anything else is one SpecError line naming ``field``."""
    import math

    from topo import SpecError

    text = str(value).strip()
    try:
        n = int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            f = math.nan
        if not (math.isfinite(f) and f == int(f)):
            raise SpecError(f"{field}: must be an integer >= 1, got {value!r}") from None
        n = int(f)
    if n < 1:
        raise SpecError(f"{field}: must be an integer >= 1, got {value!r}")
    return n


def _inline_pool_options(f):
    """``scaleup serve``'s options of one inline colocated pool (``--fabric`` instead of ``--fleet``), each None
    unless given, so that giving one with ``--fleet`` is an error (fleet.single_pool_fleet has the defaults)."""
    opts = [
        click.option("--speculative", default=None,
                     help="inline pool: speculative decoding, mtp:K@A | draft:MODEL:K@A | ngram:K@A (each decode "
                          "iteration a draft + verify step gaining E tokens per sequence) [off]"),
        click.option("--price", default=None, help="inline pool: $ per chip-hour, all-in [the chip's capex + power, plus the "
                     "fabric's switches and optics outside its price: topo show's network capex]"),
        click.option("--chunked-prefill/--no-chunked-prefill", "chunked_prefill", default=None,
                     help="inline pool: prompt chunks in the decode iterations [on]"),
        click.option("--token-budget", default=None, help="inline pool: most tokens per iteration [8192]"),
        click.option("--batch", default=None,
                     help="inline pool: most sequences per iteration [the --concurrency; 256 without one]"),
        click.option("--replicas", default=None, help="inline pool: replicas [1]"),
        click.option("--stack", default=None, help="inline pool: serving stack, trtllm | vllm | sglang | ideal [trtllm]"),
        click.option("--kv-dtype", "kv_dtype", default=None, help="inline pool: KV-cache dtype [--dtype]"),
        click.option("--dtype", default=None, help="inline pool: weights/activations dtype [fp8]"),
        click.option("--pp", default=None, help="inline pool: pipeline-parallel degree of a replica [1]"),
        click.option("--ep", default=None, help="inline pool: expert-parallel degree of a replica [1]"),
        click.option("--tp", default=None, help="inline pool: tensor-parallel degree of a replica [8]"),
        click.option("--fabric", default=None,
                     help="one inline colocated pool on this fabric preset or YAML instead of --fleet (with --model)"),
    ]
    for o in opts:
        f = o(f)
    return f


def _inline_fleet(fleet_path, model, concurrency, fabric, pool: dict):
    """The fleet ``scaleup serve`` runs: ``--fleet`` as given, or ``fleet.single_pool_fleet`` of ``--fabric`` and
    the pool options (None where not given). Conflicting or missing options are one-line errors."""
    import fleet as fl
    from fleet.spec import STACKS

    flags = {"tp": "--tp", "ep": "--ep", "pp": "--pp", "dtype": "--dtype", "kv_dtype": "--kv-dtype", "stack": "--stack",
             "replicas": "--replicas", "batch": "--batch", "token_budget": "--token-budget",
             "chunked_prefill": "--chunked-prefill", "price": "--price", "speculative": "--speculative"}
    given = [flags[k] for k, v in pool.items() if v is not None]
    if fleet_path is not None:
        if fabric is not None:
            raise ScaleupError("--fleet and --fabric: give a fleet file, or --fabric (with --model and pool options) "
                               "for one inline pool, not both")
        if given:
            raise ScaleupError(f"{given[0]}: an option of the inline pool (--fabric); with --fleet, set it in the "
                               "fleet file's pool")
        return fleet_path
    if fabric is None:
        if given:
            raise ScaleupError(f"{given[0]}: an option of the inline pool; give --fabric (and --model) for one pool, "
                               "or a --fleet file")
        raise ScaleupError(f"--fleet: give a fleet file or a bundled fleet ({', '.join(fl.bundled_fleets())}), or "
                           "--fabric and --model for one inline pool")
    if model is None:
        raise ScaleupError("--model: an inline pool (--fabric) needs a model, e.g. --model llama3.1-70b")
    kw = {k: v for k, v in pool.items() if v is not None}
    for k in ("tp", "ep", "pp", "replicas", "batch", "token_budget"):
        if k in kw:
            kw[k] = _count_opt(kw[k], flags[k])
    if "stack" in kw and kw["stack"].lower() not in STACKS:
        raise ScaleupError(f"--stack: must be one of {', '.join(STACKS)}, got {kw['stack']!r}")
    if "speculative" in kw:
        from inference.speculative import parse_speculative

        try:
            parse_speculative(kw["speculative"])
        except ScaleupError as exc:
            raise ScaleupError("--" + str(exc)) from None
    if "price" in kw:
        price = _quantity_opt(str(kw["price"]).strip().lstrip("$"), "number", "--price")
        if not price >= 0:
            raise ScaleupError(f"--price: must be >= 0 $ per chip-hour, got {kw['price']!r}")
        kw["price"] = price
    return fl.single_pool_fleet(model, fabric, concurrency=concurrency, **kw)


@main.command("serve")
@click.option("--model", "model", default=None,
              help="model preset or YAML (default: the fleet's 'model'; required with --fabric)")
@click.option("--fleet", "fleet_path", default=None,
              help="FLEET.yaml path or a bundled fleet (disagg-gb200-maia200, colocated-maia200, disagg-trn3-cs3, "
                   "single-h100); or --fabric for one inline pool")
@_inline_pool_options
@click.option("--rate", default=None, type=float, help="Poisson arrival rate, requests/s (without --trace)")
@click.option("--duration", default=None, help="arrival window of --rate (e.g. 600s, 10min) [600s]")
@click.option("--burstiness", default=1.0, show_default=True, type=float,
              help="with --rate: gamma-distributed gaps of this shape (as vllm benchmark_serving --burstiness): "
                   "1 Poisson, below 1 burstier, above 1 more even")
@click.option("--concurrency", default=None,
              help="closed loop: C requests in flight (sent at t = 0, each completion sends the next), as "
                   "vllm bench serve --max-concurrency C; with --rate: at most C in flight (the client holds a due "
                   "request until one completes: --request-rate R --max-concurrency C)")
@click.option("--requests", "n_requests", default=None, help="closed loop: requests sent in all [10 x concurrency]")
@click.option("--prompt", "prompt_len", default=None, help="fixed prompt tokens of every request (with --output)")
@click.option("--output", "output_len", default=None, help="fixed output tokens of every request (with --prompt)")
@click.option("--think", default=None, help="closed loop: time from a completion to the next send, e.g. 500ms [0s]")
@click.option("--slo-ttft", default="1s", show_default=True, help="time-to-first-token objective")
@click.option("--slo-tpot", default="50ms", show_default=True, help="time-per-output-token objective")
@click.option("--trace", "trace_path", default=None, help="CSV trace: arrival_s,prompt_tokens,output_tokens")
@click.option("--workload", default="azure-conv", show_default=True,
              help="synthetic lengths (without --prompt/--output): azure-conv, azure-code, sharegpt")
@click.option("--router", default="least-loaded", show_default=True,
              help="round-robin | least-loaded | shortest-expected | cost-aware | module:function")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the synthetic trace")
@click.option("--json", "as_json", is_flag=True, help="print the figures (and queue series) as JSON")
@click.option("--out", "out_csv", default=None, help="write per-request results to this CSV")
@_mc_options
@click.option("--straggler", "straggler", default=None,
              help="per-chip speed factors on each pool's fabric (K@F, cN@F, normal:MEAN,SD); a replica runs at its "
                   "slowest chip's speed")
@click.option("--fail", "fail", multiple=True,
              help="fail or degrade parts of each pool's fabric (KIND:TARGET[@FACTOR], e.g. plane:3; repeatable)")
def serve_cmd(model, fleet_path, rate, duration, concurrency, n_requests, prompt_len, output_len, think, slo_ttft,
              slo_tpot, trace_path, workload, router, seed, as_json, out_csv, burstiness=1.0, fail_random=None,
              samples=None,
              fail_seed=0, fail_plot=None, straggler=None, fail=(), fabric=None, tp=None, ep=None, pp=None, dtype=None,
              kv_dtype=None, stack=None, replicas=None, batch=None, token_budget=None, chunked_prefill=None,
              price=None, speculative=None) -> None:
    """Simulate serving a request stream on a fleet (fleet.simulate_serving): open loop (--rate or --trace),
    closed loop (--concurrency C: C requests in flight), or both (--rate R --concurrency C: at most C in
    flight). The fleet is a --fleet file, or one inline colocated
    pool: --model M --fabric F [--tp T --stack S ...] (fleet.single_pool_fleet)."""

    import fleet as fl

    pool = {"tp": tp, "ep": ep, "pp": pp, "dtype": dtype, "kv_dtype": kv_dtype, "stack": stack, "replicas": replicas,
            "batch": batch, "token_budget": token_budget, "chunked_prefill": chunked_prefill, "price": price,
            "speculative": speculative}
    concurrency = _count_opt(concurrency, "--concurrency") if concurrency is not None else None
    fleet_path = _inline_fleet(fleet_path, model, concurrency, fabric, pool)

    closed = {}
    limited = concurrency is not None and rate is not None and not trace_path  # --rate R, at most C in flight
    if limited:
        for name, v in (("--requests", n_requests), ("--think", think)):
            if v is not None:
                raise ScaleupError(f"{name}: applies to a closed loop only; with --rate and --concurrency, --duration "
                                   f"sizes the run (about rate x duration requests): drop {name}")
        closed = {"concurrency": concurrency}
    elif concurrency is not None:
        given = [n for n, v in (("--rate", rate), ("--trace", trace_path), ("--duration", duration)) if v is not None]
        if given:
            raise ScaleupError(f"--concurrency: a closed loop sends a request per completion; drop {' and '.join(given)}"
                               " (open-loop arrivals) or --concurrency"
                               + ("" if trace_path else ", or give --rate too (at most C in flight)"))
        closed = {"concurrency": concurrency,
                  "requests": _count_opt(n_requests, "--requests") if n_requests is not None else None,
                  "think": _quantity_opt(think, "time", "--think") if think is not None else 0.0}
    else:
        for name, v in (("--requests", n_requests), ("--think", think)):
            if v is not None:
                raise ScaleupError(f"{name}: applies to a closed loop only; give --concurrency C too"
                                   + ("" if name != "--requests" or rate is None else
                                      " (with --rate, --duration sizes the run: about rate x duration requests, "
                                      "as vllm bench serve --num-prompts N at --request-rate R is N / R s)"))
    if (prompt_len is None) != (output_len is None):
        raise ScaleupError(f"{'--prompt' if output_len is None else '--output'}: fixed lengths need both --prompt and "
                           "--output tokens (or neither, for the --workload lengths)")
    if prompt_len is not None:
        if trace_path:
            raise ScaleupError("--prompt/--output: a --trace has its own lengths; drop --prompt/--output or --trace")
        closed.update(prompt=_count_opt(prompt_len, "--prompt"), output=_count_opt(output_len, "--output"))
    if trace_path:
        ctx = click.get_current_context()
        given = [n for n, v in (("--rate", rate), ("--duration", duration)) if v is not None]
        if ctx.get_parameter_source("workload") != click.core.ParameterSource.DEFAULT:
            given.append("--workload")
        if given:
            raise ScaleupError(f"{'/'.join(given)}: a --trace has its own arrival times and lengths; drop "
                               f"{'/'.join(given)} or --trace (to replay it faster, scale its arrival_s column)")
    duration = None if (concurrency is not None and not limited) or trace_path else (duration or "600s")
    if out_csv:
        fl.check_csv_path(out_csv, "--out")  # before minutes of simulation
    trace = fl.load_trace(trace_path) if trace_path else None
    if trace is None and rate is None and concurrency is None:
        raise ScaleupError("--rate: give a request rate (requests/s), a --trace file or a --concurrency (closed loop)")
    if fail_random is not None:  # Monte Carlo over random faults (issue 13, fleet.whatif)
        from fleet.whatif import serve_monte_carlo

        if fail or straggler:
            raise ScaleupError("--fail-random: runs on the healthy fleet; drop --fail/--straggler (one what-if per run)")
        if out_csv:
            raise ScaleupError("--out: per-request rows of one run; --fail-random runs one per fault outcome and "
                               "writes none (drop --out, or --fail-random)")

        if fail_plot:
            from topo.draw import check_figure_path

            check_figure_path(fail_plot, "--fail-plot")
        mc = serve_monte_carlo(fleet_path, rates=fail_random, samples=20 if samples is None else samples, seed=fail_seed,
                               trace_seed=seed, trace=trace,
                               model=model, rate=rate, duration=duration and _time_opt(duration, "--duration", "s"),
                               workload=workload, slo_ttft=_time_opt(slo_ttft, "--slo-ttft"),
                               slo_tpot=_time_opt(slo_tpot, "--slo-tpot"), router=router, burstiness=burstiness,
                               **closed)
        click.echo(_json_text(mc.to_dict(), indent=2) if as_json else mc.table())
        if fail_plot:
            mc.plot(fail_plot)
            click.echo(f"wrote {fail_plot}", err=True)
        return
    step_models = None
    if fail and straggler:
        raise ScaleupError("--fail and --straggler: give one of them per serve run")
    if fail:  # issue 13: pools on faulted fabrics (fleet.whatif.fault_fleet)
        from fleet.whatif import fault_fleet

        fleet_path, step_models = fault_fleet(fleet_path, list(fail), model=model)
        click.echo("# faults " + ", ".join(fail) + ": pools " + ", ".join(f"{p.name} x{p.replicas}"
                                                                         for p in fleet_path.pools), err=True)
    if straggler:  # issue 13: replicas at their slowest chip's speed (fleet.whatif.straggler_fleet)
        from fleet.whatif import straggler_fleet

        fleet_path, step_models = straggler_fleet(fleet_path, straggler, seed=fail_seed, model=model)
        click.echo("# stragglers: pools " + ", ".join(f"{p.name} x{p.replicas}" for p in fleet_path.pools), err=True)
    res = fl.simulate_serving(fleet_path, trace, model=model, rate=rate,
                              duration=duration and _time_opt(duration, "--duration", "s"), workload=workload,
                              slo_ttft=_time_opt(slo_ttft, "--slo-ttft"), slo_tpot=_time_opt(slo_tpot, "--slo-tpot"),
                              router=router, seed=seed, step_models=step_models, burstiness=burstiness, **closed)
    if out_csv:
        res.to_csv(out_csv)
    if as_json:
        click.echo(_json_text(res.to_dict(), indent=2))
    else:
        click.echo(res.table())


@main.command("jobs")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--mode", default="exact", show_default=True, type=click.Choice(["exact", "steps"]),
              help="exact: each rank's flows on their own dependencies; steps: jobs' k-th steps together (faster)")
@click.option("--json", "as_json", is_flag=True, help="print the jobs' results as JSON")
@_fail_options
def jobs_cmd(spec, mode, as_json, fail=(), straggler=None) -> None:
    """Several jobs on one fabric at once (fleet.run_jobs): each job's time alone and together.

    SPEC is a YAML file: fabric, optional faults, and jobs (name, collective, size, group_size, n_groups,
    placement tray|strided|random, or explicit groups)."""

    from fleet.whatif import load_jobs, run_jobs

    fab, jobs = load_jobs(spec)
    fab = _whatif_fabric(fab, fail, straggler)
    res = run_jobs(fab, jobs, mode=mode)
    click.echo(_json_text(res.to_dict(), indent=1) if as_json else f"# {len(jobs)} job{'s' if len(jobs) != 1 else ''} on {fab.name}\n" + res.table())


def _network_part(candidate: str, basis: str) -> str:
    """``scaleup plan``'s note of a candidate's network $ per chip-hour, on infer's basis (topo.network_capex):
    its $, "in the chip's capex" (cost: included), "not priced" (switches, no cost: block) or "all-in" (a given price)."""
    import topo
    from inference.estimate import chip_cost_parts

    if basis == "given":
        return f"{candidate} all-in"
    fab = topo.load(candidate)
    net = topo.network_capex(fab)
    if net.included or (net.switches == 0 and net.total_usd == 0):  # cost: included, or chip links only (a torus)
        return f"{candidate} in the chip's capex"
    if not net.priced:
        return f"{candidate} not priced ({net.switches:,} switches, no cost: block; counted as $0)"
    _, net_h = chip_cost_parts(fab.chip, network_capex_per_chip=net.per_chip, network_power_per_chip=net.power_per_chip)
    return f"{candidate} ${net_h:.3f}"


@main.command("plan")
@click.option("--model", "model", required=True, help="model preset or YAML path")
@click.option("--rate", required=True, type=float, help="request rate to serve, requests/s")
@click.option("--slo-ttft", default="1s", show_default=True, help="time-to-first-token objective")
@click.option("--slo-tpot", default="50ms", show_default=True, help="time-per-output-token objective")
@click.option("--candidates", default="maia200,gb200-nvl72,dgx-h100", show_default=True,
              help="comma-separated fabric presets or YAML files (dgx-h100; a chip name such as h100-sxm is refused naming its fabrics)")
@click.option("--prices", "prices_path", default=None, help="YAML of $ per chip-hour by candidate or chip (maia200: 3.0)")
@click.option("--duration", default="60s", show_default=True, help="simulated trace length per candidate")
@click.option("--workload", default="azure-conv", show_default=True, help="azure-conv, azure-code, sharegpt")
@click.option("--prompt", "prompt_len", default=None,
              help="fixed prompt tokens of every request, with --output (as scaleup serve / infer; instead of --workload)")
@click.option("--output", "output_len", default=None, help="fixed output tokens of every request, with --prompt")
@click.option("--attainment", default=0.9, show_default=True, type=float,
              help="fraction of requests that must meet both SLOs")
@click.option("--tp", "--tps", "tps", default="1,2,4,8", show_default=True, help="TP degrees to search")
@click.option("--ep", "--eps", "eps", default="1", show_default=True, help="EP degrees to search")
@click.option("--batch", "--batches", "batches", default="32,128", show_default=True, help="batch limits to search")
@click.option("--modes", default="colocated,disaggregated", show_default=True, help="deployment modes")
@click.option("--router", default="least-loaded", show_default=True, help="router of every simulation")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the synthetic trace")
@click.option("--burstiness", default=1.0, show_default=True, type=float,
              help="gamma shape of the trace's inter-arrival times (as vllm benchmark_serving --burstiness): 1 "
                   "Poisson, below 1 burstier")
@click.option("--dtype", default="fp8", show_default=True, help="weights/activations dtype of every candidate")
@click.option("--stack", default=None, help="serving stack of every candidate's step model (trtllm, vllm, sglang, "
              "ideal) [the chip's calibrated one]")
@click.option("--verify", default=5.0, show_default=True, type=float,
              help="re-check the cheapest plan on a trace this many times as long, re-sizing it if it misses the "
                   "SLOs there (steady state; 0: off)")
@click.option("--chunked-prefill/--no-chunked-prefill", "chunked_prefill", default=False, show_default=True,
              help="colocated pools mix prompt chunks into the decodes' iterations, as scaleup serve --fabric does by "
                   "default (off: prefill first, as a fleet file's pool; the header says which)")
@click.option("--speculative", default=None,
              help="speculative decoding of every candidate: mtp:K@A | draft:MODEL:K@A | ngram:K@A (each decode "
                   "iteration is a draft + verify step gaining E tokens; as scaleup serve --speculative)")
@click.option("--plot", "plot_path", is_flag=False, flag_value="plan.png", default=None,
              help="draw cost vs latency with the Pareto front (PNG; default plan.png)")
@click.option("--json", "as_json", is_flag=True, help="print the plan and every point as JSON")
def plan_cmd(model, rate, slo_ttft, slo_tpot, candidates, prices_path, duration, workload, attainment, tps, eps,
             batches, modes, router, seed, dtype, stack, verify, plot_path, as_json, burstiness=1.0,
             speculative=None, chunked_prefill=False, prompt_len=None, output_len=None) -> None:
    """Cheapest deployment meeting the SLOs at a rate, with runners-up and why each lost (fleet.plan).

    Exit status: 0 with a plan; 1 when no deployment meets the SLOs within the search (the closest candidates are
    still listed); 2 on bad input."""

    import fleet as fl

    def ints(text: str, name: str) -> tuple[int, ...]:
        try:
            vals = tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise ScaleupError(f"{name}: expected comma-separated integers, got {text!r}") from None
        if not vals or min(vals) < 1:
            raise ScaleupError(f"{name}: expected integers >= 1, got {text!r}")
        return vals

    if plot_path:
        from topo.draw import check_figure_path

        check_figure_path(plot_path, "--plot")
    if (prompt_len is None) != (output_len is None):
        raise ScaleupError(f"{'--prompt' if output_len is None else '--output'}: fixed lengths need both --prompt and "
                           "--output tokens (or neither, for the --workload lengths)")
    if prompt_len is not None:
        if click.get_current_context().get_parameter_source("workload") != click.core.ParameterSource.DEFAULT:
            raise ScaleupError("--prompt/--output: fixed lengths replace --workload's; drop one")
        prompt_len, output_len = _count_opt(prompt_len, "--prompt"), _count_opt(output_len, "--output")
    res = fl.plan(model, rate, _time_opt(slo_ttft, "--slo-ttft"), _time_opt(slo_tpot, "--slo-tpot"),
                  [c.strip() for c in candidates.split(",") if c.strip()],
                  prices=fl.load_prices(prices_path) if prices_path else None,
                  duration=_time_opt(duration, "--duration", "s"), workload=workload, seed=seed, burstiness=burstiness,
                  attainment=attainment,
                  tps=ints(tps, "--tp"), eps=ints(eps, "--ep"), batches=ints(batches, "--batch"),
                  modes=[m.strip() for m in modes.split(",") if m.strip()], router=router, verify=verify,
                  dtype=dtype, stack=stack, speculative=speculative, chunked_prefill=chunked_prefill,
                  prompt=prompt_len, output=output_len)
    if plot_path:
        res.plot(plot_path)
    if as_json:
        click.echo(_json_text(res.to_dict(), indent=2))
        if res.best is None:  # the answer is no: exit 1 (2 is a user error), the JSON on stdout still parseable
            click.echo(f"no deployment meets the SLOs within the search ({len(res.candidates)} candidates; "
                       "\"best\": null)", err=True)
            sys.exit(1)
        return
    s = res.settings
    click.echo(f"{s['model']} at {s['rate_rps']:g} req/s, SLOs TTFT <= {s['slo_ttft_s'] * 1e3:g} ms and TPOT <= "
               f"{s['slo_tpot_s'] * 1e3:g} ms for {s['attainment']:.0%} of requests; {s['requests']} requests "
               f"({s['workload']}, {s['duration_s']:g} s"
               + (f", burstiness {s['burstiness']:g}" if s.get("burstiness", 1.0) != 1.0 else "") + f"), {s['dtype']}"
               + (f", stack {s['stack']}" if s.get("stack") else "")
               + (f", speculative {s['speculative']}" if s.get("speculative") else "")
               + (", colocated pools chunk prefills (--chunked-prefill)" if s.get("chunked_prefill") else
                  ", colocated pools prefill first (--no-chunked-prefill)")
               + f", {s['simulations']} simulation{'' if s['simulations'] == 1 else 's'}"
               + (f"; the cheapest re-checked over {s['verified_over_s']:g} s (--verify)" if s.get("verified_over_s")
                  else ""))
    if s.get("chip_prices"):  # which costs rest on an assumed chip price (scaleup infer prints each basis in full)
        click.echo("chip-hour prices: " + ", ".join(f"{c} ${p['usd_per_chip_hour']:.3f} ({p['basis']})"
                                                    for c, p in s["chip_prices"].items()))
        click.echo("of which network: " + "; ".join(_network_part(c, p["basis"]) for c, p in s["chip_prices"].items())
                   + " (switches and optics outside the chip's price, amortised, and their power; as scaleup infer)")
    if res.best is None:
        click.echo("no deployment meets the SLOs within the search; closest candidates:")
    else:
        b = res.best.best
        click.echo(f"plan: {b.label}  (${b.cost_per_hour:,.2f}/h, ${b.cost_per_mtok:.3f} per M output tokens)")
    click.echo(res.table())
    if plot_path:
        click.echo(f"plot: {plot_path}")
    if res.best is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
