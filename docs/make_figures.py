"""Regenerate every figure in docs/img/ and every number and command output quoted in README.md and docs/*.md.

Run (from anywhere; the full run takes several minutes on 2 cores)::

    python docs/make_figures.py              # every figure, then every tagged number
    python docs/make_figures.py --fast       # only the quick figures and numbers (what the test runs)
    python docs/make_figures.py --check      # numbers and pasted outputs only: print the stale ones, change nothing
                                             # (exit 1 if any)
    python docs/make_figures.py --list       # what would run
    python docs/make_figures.py --only tp-llama70b --img-dir /tmp/img --no-numbers   # one job, a trial run

Where the commands come from (one source of truth each, the commands a user types):

- Figures: the ``# Run`` block at the top of each ``examples/*.yaml`` (lines ``#   scaleup ...``; a line
  ending in ``\\`` continues), plus ``<!-- make: COMMAND -->`` comments in README.md and docs/*.md for
  figures that no sweep makes (a topology drawing). Every block or comment whose commands write into
  ``docs/img/`` is run, in a scratch directory, with ``docs/``, ``examples/`` and ``bench/`` paths mapped to
  this checkout. A block whose commands all take a few seconds may say ``# Run (fast)``.
- Numbers: a number quoted in the docs is wrapped in a tag::

      <!-- num: COMMAND :: PICK :: FORMAT -->TEXT<!-- /num -->

  COMMAND runs once per distinct command line. PICK chooses the value from its output: a JSON path of
  the stdout (``cost_per_mtok_usd``, ``0.busbw_GBps``), optionally scaled (``0.busbw_GBps*1``,
  ``ttft_s*1e3``, ``x/1e9``), or ``re:REGEX`` whose first group is read from the stdout as text.
  FORMAT is a Python format string (``{:.0f}``, ``{:+.0f}%``, ``{:,.2f}``); a ``re:`` pick with FORMAT
  ``{}`` is copied as printed. ``<!-- num slow: ...`` marks a command of more than a few seconds: the
  test (tests/test_docs_figures.py) skips it; this script runs it.
- Pasted output (a table a command prints) is wrapped in a block tag, each on a line of its own::

      <!-- out: COMMAND :: FILTER -->
      ...the lines of the stdout FILTER selects, exactly as printed...
      <!-- /out -->

  FILTER selects lines of the stdout: ``all`` (every line), ``table:N`` (the N-th markdown table, counted
  from 1: a run of consecutive lines starting with ``|``) or ``re:REGEX`` (every line REGEX matches,
  ``re.search``). An optional third field ``:: s/PATTERN/REPLACEMENT/`` (``re.sub`` on each selected line; any
  delimiter after the ``s``) edits the lines: ``s/^\\| (?=[A-Z])/| vLLM /`` labels a table's rows,
  ``s/ \\(\\d+ s\\)$//`` drops a wall-clock time. A filter that selects no line is an error. ``<!-- out slow:``
  as for numbers. Tables that record the past ("before" tables) are not tagged.

Every command runs once per run of this script, for number and output tags alike. This script never invents
a value: every figure, number and pasted output is what the named command prints now.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_NC = r"((?:(?!<!--).)*?)"  # a field that does not run into another comment (prose may quote "<!-- num: ... -->")
NUM_RE = re.compile(rf"<!-- num( slow)?: {_NC} :: {_NC} :: {_NC} -->{_NC}<!-- /num -->", re.S)
OUT_RE = re.compile(rf"<!-- out( slow)?: {_NC} :: {_NC}(?: :: {_NC})? -->\n((?:(?!<!-- out)[^\n]*\n)*?)<!-- /out -->",
                    re.S)
MAKE_RE = re.compile(r"<!-- make( fast)?: (.*?) -->", re.S)
IMG_RE = re.compile(r"(?:\]\(|src=\")((?:docs/)?img/[\w.\-]+\.(?:png|svg|pdf))")


@dataclass(frozen=True)
class FigureJob:
    """Commands that together write one or more figures into docs/img/."""

    source: str  # where the commands were found (file name)
    commands: tuple[str, ...]
    fast: bool

    @property
    def outputs(self) -> list[str]:
        """The docs/img/ files the commands write (paths relative to the repository root)."""
        out = []
        for cmd in self.commands:
            out += [t for t in shlex.split(cmd) if t.startswith("docs/img/")]
        return out


@dataclass(frozen=True)
class NumberTag:
    """One ``<!-- num: ... -->TEXT<!-- /num -->`` tag of a document."""

    file: Path
    slow: bool
    command: str
    pick: str
    fmt: str
    text: str
    span: tuple[int, int]


@dataclass(frozen=True)
class OutputTag:
    """One ``<!-- out: COMMAND :: FILTER [:: EDIT] -->`` ... ``<!-- /out -->`` block of a document."""

    file: Path
    slow: bool
    command: str
    filter: str
    edit: str  # "" = none
    text: str  # the lines between the two tags, each ending in a newline
    span: tuple[int, int]

    @property
    def pick(self) -> str:
        """What the block selects (FILTER [:: EDIT]), for messages."""
        return self.filter + (f" :: {self.edit}" if self.edit else "")


# ------------------------------------------------------------------------------------------ discovery
def example_commands(path: Path) -> tuple[list[str], bool]:
    """The commands of the ``# Run`` block at the top of an example spec, and whether it says ``(fast)``."""
    cmds: list[str] = []
    fast = False
    in_block = False
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        body = line[1:]
        if re.match(r"\s*Run\b", body):
            in_block, fast = True, "(fast" in body
            continue
        if not in_block:
            continue
        text = body.strip()
        if not text:
            continue
        if not pending and not re.match(r"(scaleup|python)\b", text):
            if cmds:
                break
            continue  # the Run line's remark continued
        text = re.sub(r"\s{2,}\(.*\)\s*$", "", text)  # a trailing "  (remark)"
        if text.endswith("\\"):
            pending += text[:-1].strip() + " "
            continue
        cmds.append(pending + text)
        pending = ""
    return cmds, fast


def figure_jobs() -> list[FigureJob]:
    """Every command group that writes into docs/img/: example Run blocks, then ``make:`` comments."""
    jobs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        cmds, fast = example_commands(path)
        if any("docs/img/" in c for c in cmds):
            jobs.append(FigureJob(f"examples/{path.name}", tuple(cmds), fast))
    for doc in DOC_FILES:
        for m in MAKE_RE.finditer(doc.read_text(encoding="utf-8")):
            cmds = tuple(c.strip() for c in m.group(2).split(" && ") if c.strip())
            jobs.append(FigureJob(str(doc.relative_to(ROOT)), cmds, bool(m.group(1))))
    return jobs


def referenced_images() -> set[str]:
    """docs/img/ files that README.md and docs/*.md show (as repository-relative paths)."""
    out = set()
    for doc in DOC_FILES:
        for m in IMG_RE.finditer(doc.read_text(encoding="utf-8")):
            rel = m.group(1)
            out.add(rel if rel.startswith("docs/") else f"docs/{rel}")
    return out


def number_tags(files: list[Path] | None = None) -> list[NumberTag]:
    """Every number tag in README.md and docs/*.md."""
    tags = []
    for doc in files or DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        for m in NUM_RE.finditer(text):
            tags.append(NumberTag(doc, bool(m.group(1)), " ".join(m.group(2).split()), m.group(3).strip(),
                                  m.group(4).strip(), m.group(5), m.span(5)))
    return tags


def output_tags(files: list[Path] | None = None) -> list[OutputTag]:
    """Every ``<!-- out: ... -->`` block in README.md and docs/*.md."""
    tags = []
    for doc in files or DOC_FILES:
        text = doc.read_text(encoding="utf-8")
        matches = list(OUT_RE.finditer(text))
        found = {text.count("\n", 0, m.start()) + 1 for m in matches}
        found |= {text.count("\n", 0, m.end()) + 1 for m in matches}
        for i, line in enumerate(text.splitlines(), 1):  # a tag line that is not part of a block: malformed
            if line.startswith(("<!-- out", "<!-- /out")) and i not in found:
                raise ValueError(f"{_rel(doc)}:{i}: an out tag without its pair (expected '<!-- out[ slow]: COMMAND"
                                 " :: FILTER[ :: s/P/R/] -->' on a line, the output lines, then '<!-- /out -->')")
        for m in matches:
            tags.append(OutputTag(doc, bool(m.group(1)), " ".join(m.group(2).split()), m.group(3).strip(),
                                  (m.group(4) or "").strip(), m.group(5), m.span(5)))
    return tags


def all_tags(files: list[Path] | None = None) -> list[NumberTag | OutputTag]:
    """Number and output tags, per file in document order."""
    tags = number_tags(files) + output_tags(files)
    order = {f: i for i, f in enumerate(files or DOC_FILES)}
    return sorted(tags, key=lambda t: (order.get(t.file, len(order)), t.span[0]))


# ------------------------------------------------------------------------------------------ running
def argv_of(command: str, img_dir: str | os.PathLike | None = None) -> list[str]:
    """A command line as typed by a user -> argv run with this interpreter, docs/, examples/ and bench/ mapped to
    this checkout (the scratch directory stays the working directory for everything else); ``img_dir``
    redirects ``docs/img/`` outputs (the test writes into a temporary directory)."""
    args = shlex.split(command)
    if args[0] == "scaleup":
        args = [sys.executable, "-m", "cli", *args[1:]]
    elif args[0] == "python":
        args = [sys.executable, *args[1:]]
    else:
        raise ValueError(f"not a scaleup or python command: {command!r}")
    if img_dir is not None:
        args = [str(Path(img_dir) / a[len("docs/img/"):]) if a.startswith("docs/img/") else a for a in args]
    return [str(ROOT / a) if a.startswith(("docs/", "examples/", "bench/")) else a for a in args]


def run(command: str, cwd: str | os.PathLike, img_dir: str | os.PathLike | None = None) -> str:
    """Run ``command`` in ``cwd``; its stdout (raises RuntimeError with the stderr tail when it fails)."""
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]).rstrip(os.pathsep)}
    proc = subprocess.run(argv_of(command, img_dir), cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{command}: exit {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


def pick_value(stdout: str, pick: str) -> float | str:
    """The value ``pick`` names in a command's stdout (see the module docstring)."""
    if pick.startswith("re:"):
        m = re.search(pick[3:], stdout, re.M)
        if not m:
            raise LookupError(f"pattern {pick[3:]!r} not found in the output")
        return m.group(1)
    m = re.fullmatch(r"([\w.\-]+)\s*(?:([*/])\s*([0-9.eE+\-]+))?", pick)
    if not m:
        raise ValueError(f"pick {pick!r}: expected a JSON path with an optional *F or /F, or re:REGEX")
    value = json.loads(stdout)
    for key in m.group(1).split("."):
        value = value[int(key)] if isinstance(value, list) else value[key]
    value = float(value)
    if m.group(2) == "*":
        value *= float(m.group(3))
    elif m.group(2) == "/":
        value /= float(m.group(3))
    return value


def select_lines(stdout: str, filter: str, edit: str = "") -> str:
    """The lines of ``stdout`` that ``filter`` selects, edited by ``edit``, each ending in a newline (see the
    module docstring). Raises LookupError when no line is selected, ValueError for a malformed filter."""
    lines = stdout.splitlines()
    if filter == "all":
        kept = lines
    elif filter.startswith("table:"):
        try:
            n = int(filter[6:])
        except ValueError:
            raise ValueError(f"filter {filter!r}: table:N wants a table number, counted from 1") from None
        tables: list[list[str]] = []
        for i, line in enumerate(lines):
            if line.startswith("|"):
                if i == 0 or not lines[i - 1].startswith("|"):
                    tables.append([])
                tables[-1].append(line)
        if not 1 <= n <= len(tables):
            raise LookupError(f"filter {filter!r}: the output has {len(tables)} markdown table(s)")
        kept = tables[n - 1]
    elif filter.startswith("re:"):
        rx = re.compile(filter[3:])
        kept = [line for line in lines if rx.search(line)]
    else:
        raise ValueError(f"filter {filter!r}: expected all, table:N or re:REGEX")
    if edit:
        m = re.fullmatch(r"s(.)(.*?)\1(.*)\1", edit, re.S)
        if not m:
            raise ValueError(f"edit {edit!r}: expected s/PATTERN/REPLACEMENT/")
        rx, repl = re.compile(m.group(2)), m.group(3)
        kept = [rx.sub(repl, line) for line in kept]
    if not kept:
        raise LookupError(f"filter {filter!r} selects no line of the output")
    return "".join(line + "\n" for line in kept)


def render(tag: NumberTag | OutputTag, stdout: str) -> str:
    """The text ``tag`` should hold for a command's stdout."""
    if isinstance(tag, OutputTag):
        return select_lines(stdout, tag.filter, tag.edit)
    value = pick_value(stdout, tag.pick)
    return tag.fmt.format(value)


def evaluate_tags(tags: list[NumberTag | OutputTag], cwd: str | os.PathLike,
                  outputs: dict[str, str] | None = None,
                  errors: list[tuple[NumberTag | OutputTag, str]] | None = None,
                  ) -> list[tuple[NumberTag | OutputTag, str]]:
    """(tag, text the code prints now) for each tag; each distinct command runs once (``outputs``, command ->
    stdout, is the cache: pass one dict to share it between calls). With ``errors`` (a list), a command that
    fails or a pick/filter that finds nothing is appended there as (tag, message) and the tag left out;
    without it, the error is raised."""
    outputs = {} if outputs is None else outputs
    failed: dict[str, str] = {}
    out = []
    for tag in tags:
        try:
            if tag.command in failed:
                raise RuntimeError(failed[tag.command])
            if tag.command not in outputs:
                try:
                    outputs[tag.command] = run(tag.command, cwd)
                except RuntimeError as exc:
                    failed[tag.command] = str(exc)
                    raise
            out.append((tag, render(tag, outputs[tag.command])))
        except (RuntimeError, LookupError, ValueError) as exc:
            if errors is None:
                raise
            errors.append((tag, str(exc)))
    return out


def line_of(tag: NumberTag | OutputTag) -> int:
    """The 1-based line of the document where the tag's text starts."""
    return tag.file.read_text(encoding="utf-8").count("\n", 0, tag.span[0]) + 1


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def stale_report(tag: NumberTag | OutputTag, new: str, max_lines: int = 12) -> str:
    """One stale tag, for the console: old -> new for a number, the changed lines for an output block."""
    where = f"{_rel(tag.file)}:{line_of(tag)}"
    if isinstance(tag, NumberTag):
        return f"{where}: {tag.text!r} -> {new!r}  ({tag.command} :: {tag.pick})"
    diff = [d for d in difflib.unified_diff(tag.text.splitlines(), new.splitlines(), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    more = f"\n    ... {len(diff) - max_lines} more changed lines" if len(diff) > max_lines else ""
    return (f"{where}: output block stale ({tag.command} :: {tag.pick}):\n"
            + "\n".join("    " + d for d in diff[:max_lines]) + more)


def _key(tag: NumberTag | OutputTag) -> tuple[str, ...]:
    return type(tag).__name__, tag.command, tag.pick, getattr(tag, "fmt", "")


def rewrite_tags(results: list[tuple[NumberTag | OutputTag, str]]) -> int:
    """Write the new texts into the documents; returns how many changed. Each document is read again and its
    tags found again (matched to ``results`` by kind, command, pick and order), so that an edit made to it
    while the commands ran is kept."""
    changed = 0
    by_file: dict[Path, dict[tuple[str, ...], list[str]]] = {}
    for tag, new in results:
        by_file.setdefault(tag.file, {}).setdefault(_key(tag), []).append(new)
    for path, news in by_file.items():
        original = path.read_text(encoding="utf-8")
        seen: dict[tuple[str, ...], int] = {}
        edits = []
        for tag in all_tags([path]):
            k = _key(tag)
            i = seen[k] = seen.get(k, -1) + 1
            if i < len(news.get(k, ())) and news[k][i] != tag.text:
                edits.append((tag.span, news[k][i]))
        text = original
        for (a, b), new in sorted(edits, key=lambda e: -e[0][0]):  # back to front keeps spans valid
            text = text[:a] + new + text[b:]
        changed += len(edits)
        if text != original:
            path.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="only figures marked fast, tags not marked slow")
    ap.add_argument("--check", action="store_true",
                    help="numbers and output blocks only; report stale ones, change nothing (exit 1 if any)")
    ap.add_argument("--list", action="store_true", help="print the figure commands, number tags and output blocks")
    ap.add_argument("--no-figures", action="store_true", help="skip the figures")
    ap.add_argument("--no-numbers", action="store_true", help="skip the numbers and output blocks")
    ap.add_argument("--only", default=None, help="only figure jobs whose source or outputs contain this text")
    ap.add_argument("--img-dir", default=None, help="write the figures here instead of docs/img/ (a trial run)")
    ap.add_argument("--docs", default=None,
                    help="only the numbers and output blocks of these documents (comma-separated file names, "
                         "e.g. inference.md,README.md); default every document")
    args = ap.parse_args(argv)
    names = None if args.docs is None else {n.strip() for n in args.docs.split(",") if n.strip()}
    known = {f.name for f in DOC_FILES}
    if names is not None and not names <= known:
        ap.error(f"--docs: unknown document {sorted(names - known)[0]!r}; one of {', '.join(sorted(known))}")
    jobs = [j for j in figure_jobs() if (j.fast or not args.fast)
            and (args.only is None or args.only in j.source or any(args.only in o for o in j.outputs))]
    tags = [t for t in all_tags() if not (args.fast and t.slow) and (names is None or t.file.name in names)]
    if args.list:
        for j in jobs:
            print(f"[figure{' fast' if j.fast else ''}] {j.source}: " + " && ".join(j.commands))
        for t in tags:
            slow = " slow" if t.slow else ""
            if isinstance(t, OutputTag):
                n = t.text.count("\n")
                print(f"[output{slow}] {_rel(t.file)}:{line_of(t)}: {n} lines <- {t.command} :: {t.pick}")
            else:
                print(f"[number{slow}] {_rel(t.file)}:{line_of(t)}: {t.text!r} <- {t.command} :: {t.pick}")
        return 0
    status = 0
    with tempfile.TemporaryDirectory(prefix="scaleup-figures-") as scratch:
        if not (args.check or args.no_figures):
            for j in jobs:
                print(f"{j.source}: {', '.join(j.outputs)}", flush=True)
                for cmd in j.commands:
                    run(cmd, scratch, img_dir=args.img_dir)
        if not args.no_numbers:
            errors: list[tuple[NumberTag | OutputTag, str]] = []
            results = evaluate_tags(tags, scratch, errors=errors)
            stale = [(t, new) for t, new in results if new != t.text]
            for t, new in stale:
                print(stale_report(t, new))
            for t, msg in errors:
                print(f"{_rel(t.file)}:{line_of(t)}: FAILED ({t.command} :: {t.pick}): {msg}")
            status = 1 if errors else 0
            n_out = sum(isinstance(t, OutputTag) for t, _ in results)
            # "k of N tags ... (n quoted numbers, m output blocks)": k counts both kinds
            counts = f"{len(results)} tags ({len(results) - n_out} quoted numbers, {n_out} output blocks)"
            failed = f", {len(errors)} failed" if errors else ""
            if args.check:
                status = 1 if stale or errors else 0
                print(f"{len(stale)} of {counts} stale{failed}")
            else:
                print(f"{rewrite_tags(results)} of {counts} updated{failed}")
    return status


if __name__ == "__main__":
    sys.exit(main())
