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


# ====================================================================== sweep and plot commands (issue 6)
# (sweep section: `scaleup sweep`, `scaleup plot`)


# ====================================================================== serving commands (issue 7)
# (serving section: `scaleup serve`, `scaleup plan`)


if __name__ == "__main__":
    main()
