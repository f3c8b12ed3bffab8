"""Every ``scaleup ...`` command a user can copy from the docs still parses: README.md, docs/*.md (fenced and
indented code blocks, inline backticks in prose) and examples/ (the comment lines that start with ``scaleup``, and inline
backticks in comments) are checked against the click CLI in cli.py with click's own parser, WITHOUT running
anything: the subcommand path exists, every option given is an option of that command and has its value, the
values of int / float / choice options convert, no stray arguments are left over, and (commands in code blocks
and example comments only) every required option and argument is given.

Synopsis notation is read as such, not skipped: ``[--opt V]`` is an optional part (checked like the rest),
``--a/--b`` is a flag pair (both checked), ``...`` stands for options left out (or, after a group, as does
``<op>``, for any one of its subcommands; as a value, for the value), and an upper-case or one-letter value
(``FILE``, ``K``, ``k``, ``<chips>``, ``..``) is a placeholder whose type is not converted. In prose, an option
named without its value (``scaleup infer --prices``, ``[--tp --ep]``) names the option and is accepted. What
cannot be read this way goes in ALLOWED with its reason (empty now), and an entry that matches nothing fails.
The commands' figures are docs/make_figures.py's business (tests/test_docs_figures.py): ``<!-- ... -->`` tags are
not read here. Nothing here runs a command."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

import cli

ROOT = Path(__file__).resolve().parents[1]

#: (file, the command's text as extracted) -> why it cannot be checked as written
ALLOWED: dict[tuple[str, str], str] = {}

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"(?<!`)`(scaleup(?:\s[^`]*)?)`(?!`)")
_COMMENT_TAG = re.compile(r"<!--.*?-->", re.S)
_SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "2>", "2>&1", "<", "&"}
#: a placeholder value: FILE, K, k, PRESET|FABRIC, FIG.png|svg|pdf, <chips>, ..
_PLACEHOLDER = re.compile(r"^(<[^>]*>|\.\.|[a-z]|[A-Z][A-Z0-9_]*(\.[a-z]+)?(\|[A-Za-z0-9_]+)*)$")


@dataclass(frozen=True)
class DocCommand:
    """One ``scaleup ...`` command found in a doc: where, its text, and whether it is a whole command (a code
    block or an example's comment line, checked for required options) or a mention in prose."""

    file: str
    line: int
    text: str
    whole: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: `{self.text}`"


def _doc_files() -> list[Path]:
    examples = [p for p in sorted((ROOT / "examples").rglob("*")) if p.is_file() and p.suffix in (".yaml", ".yml", ".md")]
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *examples]


def _join_continued(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join lines that end in a backslash with the next one: (first line number, one command)."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for no, text in lines:
        if not pending:
            start = no
        if text.rstrip().endswith("\\"):
            pending += text.rstrip()[:-1].strip() + " "
            continue
        out.append((start, pending + text.strip()))
        pending = ""
    if pending:
        out.append((start, pending.strip()))
    return out


def _markdown_commands(path: Path, rel: str) -> list[DocCommand]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[DocCommand] = []
    in_fence, block, prose, indented = False, [], [], []
    for no, line in enumerate(lines, 1):
        if _FENCE.match(line):
            if in_fence:
                found += _block_commands(block, rel)
                block = []
            in_fence = not in_fence
            prose.append("")
            continue
        if in_fence:
            block.append((no, line))
            prose.append("")
        elif line.startswith("    ") and (indented or _code_start(line, lines[no - 2] if no > 1 else "")):
            indented.append((no, line))  # an indented code block (a line of its own, not a list's text)
            prose.append("")
        else:
            found += _block_commands(indented, rel)
            indented = []
            prose.append(line)
    found += _block_commands(indented, rel)
    text = _COMMENT_TAG.sub(lambda m: "\n" * m.group(0).count("\n"), "\n".join(prose))
    for m in _INLINE.finditer(text):
        no = text.count("\n", 0, m.start()) + 1
        found.append(DocCommand(rel, no, " ".join(m.group(1).split()), whole=False))
    return found


def _code_start(line: str, previous: str) -> bool:
    """Whether ``line`` opens an indented code block: a blank line before, and a command, not a list's text."""
    return not previous.strip() and "`" not in line and re.search(r"(^|&&\s*)scaleup\s", line.strip()) is not None


def _block_commands(block: list[tuple[int, str]], rel: str) -> list[DocCommand]:
    """The ``scaleup`` commands of a code block (a ``$ `` prompt is dropped; continued lines joined; each command
    of ``a && scaleup ...``)."""
    lines = [(no, re.sub(r"^\s*\$\s+", "", text)) for no, text in block]
    return [DocCommand(rel, no, part.strip(), whole=True) for no, text in _join_continued(lines)
            for part in re.split(r"\s&&\s", text) if re.match(r"scaleup(\s|$)", part.strip())]


def _example_commands(path: Path, rel: str) -> list[DocCommand]:
    """The comment lines of an example that are ``scaleup`` commands (``#   scaleup ...``, ``# Run: scaleup ...``)
    and the inline backticks of its comments."""
    found: list[DocCommand] = []
    comments = [(no, line.split("#", 1)[1]) for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if line.lstrip().startswith("#")]
    runs = [(no, re.sub(r"^\s*(Run\b[^:]*:)?\s*", "", text)) for no, text in comments]
    i = 0
    while i < len(runs):
        no, text = runs[i]
        if re.match(r"scaleup\s", text) and "`" not in text:
            group = [(no, text)]
            while group[-1][1].rstrip().endswith("\\") and i + 1 < len(runs):
                i += 1
                group.append(runs[i])
            found += [DocCommand(rel, n, t, whole=True) for n, t in _join_continued(group)]
        else:
            for m in _INLINE.finditer(text):
                found.append(DocCommand(rel, no, " ".join(m.group(1).split()), whole=False))
        i += 1
    return found


def doc_commands() -> list[DocCommand]:
    """Every ``scaleup`` command of README.md, docs/*.md and examples/."""
    out: list[DocCommand] = []
    for path in _doc_files():
        rel = path.relative_to(ROOT).as_posix()
        out += _markdown_commands(path, rel) if path.suffix == ".md" else _example_commands(path, rel)
    return out


def _tokens(cmd: DocCommand) -> list[str]:
    """The arguments after ``scaleup``, up to the first shell operator, with synopsis brackets and ``...`` read."""
    words = shlex.split(cmd.text, comments=cmd.whole)
    out: list[str] = []
    for w in words[1:]:
        if w in _SHELL_STOP or w.startswith((">", "2>")):
            break
        w = w.removeprefix("[")  # a synopsis' optional part: [--opt V]; a range p0.leaf[0-3] stays
        while w.endswith("]") and w.count("]") > w.count("["):
            w = w[:-1]
        if not w:
            continue
        if w.startswith("-") and "/" in w and all(p.startswith("-") for p in w.split("/")):
            out += w.split("/")  # --chunked-prefill/--no-chunked-prefill
        else:
            out.append(w)
    return out


def _option(cmd: click.Command, token: str) -> click.Option | None:
    name = token.split("=", 1)[0]
    return next((p for p in cmd.params if isinstance(p, click.Option) and name in p.opts + p.secondary_opts), None)


def _takes_value(cmd: click.Command, token: str) -> bool:
    """Whether ``token`` is an option of ``cmd`` that takes its value from the next word."""
    opt = _option(cmd, token) if token.startswith("-") and "=" not in token else None
    return opt is not None and not opt.is_flag and not getattr(opt, "_flag_needs_value", False)


_PLACEHOLDER_VALUE = "<value>"
#: what click's parser files for an argument not given (click >= 8.3: its UNSET sentinel)
_ABSENT = (None, (), getattr(click.core, "UNSET", None))


def _check_leaf(cmd: click.Command, ctx: click.Context, args: list[str], whole: bool) -> str | None:
    """Why ``args`` does not parse for ``cmd`` (None where it does): click's parser, then each value's type."""
    elided = "..." in args  # options left out: required ones may be among them
    args = [_PLACEHOLDER_VALUE if a == "..." and _takes_value(cmd, prev) else a
            for prev, a in zip(["", *args], args) if a != "..." or _takes_value(cmd, prev)]
    if not whole:  # prose names an option without its value: `scaleup infer --prices`, `[--tp --ep --pp]`
        args = [x for a, nxt in zip(args, [*args[1:], "--"])
                for x in ([a, _PLACEHOLDER_VALUE] if _takes_value(cmd, a) and nxt.startswith("--") else [a])]
    parser = cmd.make_parser(ctx)
    try:
        opts, largs, _order = parser.parse_args(args)
    except click.UsageError as exc:
        return exc.format_message()
    if largs:
        return f"unexpected extra argument(s) {largs}"
    for param in cmd.params:
        if opts.get(param.name, None) in _ABSENT:
            if whole and param.required and not elided:
                return f"missing {param.get_error_hint(ctx)}"
            continue
        if isinstance(param.type, (click.Path, click.File)):
            continue  # a file's existence is not syntax
        values = opts[param.name]
        for v in values if param.multiple or param.nargs != 1 else [values]:
            if not isinstance(v, str) or _PLACEHOLDER.match(v):
                continue
            try:
                param.type.convert(v, param, ctx)
            except click.BadParameter as exc:
                return f"{param.get_error_hint(ctx)}: {exc.format_message()}"
    return None


def check(cmd: DocCommand) -> str | None:
    """Why ``cmd`` is not a command of the CLI as written (None where it is)."""
    try:
        args = _tokens(cmd)
    except ValueError as exc:
        return f"cannot shell-split: {exc}"
    return _walk(cli.main, "scaleup", None, args, cmd.whole)


def _walk(command: click.Command, name: str, parent: click.Context | None, args: list[str], whole: bool) -> str | None:
    ctx = click.Context(command, info_name=name, parent=parent)
    if not isinstance(command, click.Group):
        return _check_leaf(command, ctx, args, whole)
    parser = command.make_parser(ctx)  # a group stops at its first positional: the subcommand's name
    try:
        _opts, rest, _order = parser.parse_args(list(args))
    except click.UsageError as exc:
        return exc.format_message()
    if not rest:
        return None  # `scaleup collective`: the group itself
    sub, rest = rest[0], rest[1:]
    path = ctx.command_path
    if sub == "..." or sub.startswith("<"):  # `scaleup collective ... --measured`: some subcommand takes them
        why = {n: _walk(c, n, ctx, rest, False) for n, c in command.commands.items()}
        return None if any(w is None for w in why.values()) else f"no subcommand of `{path}` takes {rest}"
    found = command.get_command(ctx, sub)
    if found is None:
        return f"`{path}` has no subcommand {sub!r} (it has: {', '.join(sorted(command.commands))})"
    return _walk(found, sub, ctx, rest, whole)


COMMANDS = doc_commands()


def test_docs_hold_commands_of_every_kind():
    """The extraction finds the docs' commands (code blocks, prose, examples), so an empty pass means nothing."""
    files = {c.file for c in COMMANDS}
    assert {"README.md", "docs/fleet.md", "docs/collectives.md"} <= files
    assert any(f.startswith("examples/") for f in files)
    assert sum(c.whole for c in COMMANDS) > 80 and sum(not c.whole for c in COMMANDS) > 80
    assert any(c.text.startswith("scaleup collective all-reduce --fabric maia200") for c in COMMANDS)


def test_every_doc_command_parses():
    bad = [f"{c}: {why}" for c in COMMANDS
           if (c.file, c.text) not in ALLOWED and (why := check(c)) is not None]
    assert not bad, "doc commands the CLI does not take as written:\n" + "\n".join(bad)


def test_allow_list_entries_are_still_needed():
    texts = {(c.file, c.text): c for c in COMMANDS}
    stale = [k for k in ALLOWED if k not in texts or check(texts[k]) is None]
    assert not stale, f"ALLOWED entries that match no failing command (remove them): {stale}"


@pytest.mark.parametrize("text, whole, expect", [
    ("scaleup infer --model llama3.1-70b --tp 8", True, None),
    ("scaleup infer --modle llama3.1-70b", True, "No such option"),
    ("scaleup infer --tp 8", True, "--model"),  # required, in a code block
    ("scaleup infer --tp 8", False, None),  # prose may leave it out
    ("scaleup infer --model m --tp eight", True, "not a valid integer"),
    ("scaleup infer --model m --tp", True, "requires an argument"),
    ("scaleup infer --prices", False, None),  # prose names an option
    ("scaleup infer [--tp --ep --dp]", False, None),  # ... or several
    ("scaleup infer [--tp --ep --modle]", False, "No such option"),
    ("scaleup topo shw maia200", True, "no subcommand 'shw'"),
    ("scaleup topo show", True, "FABRIC"),
    ("scaleup topo show maia200 extra", True, "extra argument"),
    ("scaleup collective all-reduce --placement diagonal", True, "diagonal"),
    ("scaleup collective all-reduce --fail-random --samples 5", True, None),  # an option whose value is optional
    ("scaleup collective ... --measured", False, None),
    ("scaleup collective ... --no-such-thing", False, "no subcommand"),
    ("scaleup collective --ideal", False, "No such option"),
    ("scaleup serve --fleet f --rate 1 [--burstiness B] [--chunked-prefill/--no-chunked-prefill]", True, None),
    ("scaleup serve --fleet f --rate 1 [--chunked/--no-chunked-prefill]", True, "No such option"),
    ("scaleup infer --model m ... --nearest K  # a comment", True, None),
    ("scaleup plot r.parquet --kind busbw -o x.png | head", True, None),
    ("scaleup traffic --fail 'switch:p0.leaf[0-3]' [--top 3]", True, None),
])
def test_the_checker_sees_what_click_refuses(text, whole, expect):
    """The checker against hand-made commands: it refuses what click would refuse, and reads synopsis notation."""
    why = check(DocCommand("t.md", 1, text, whole))
    if expect is None:
        assert why is None, why
    else:
        assert why is not None and expect in why, why


def test_the_extraction_reads_every_way_a_doc_writes_a_command(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("Prose `scaleup topo\nshow maia200` and <!-- num: `scaleup gone` :: x -->.\n\n"
                   "```bash\n$ scaleup infer --model m \\\n    --tp 8   # comment\npython x.py\n```\n\n"
                   "    pip install . && scaleup topo list\n\n- a list item\n    scaleup in a list's text\n",
                   encoding="utf-8")
    got = [(c.line, c.text, c.whole) for c in _markdown_commands(doc, "d.md")]
    assert got == [(5, "scaleup infer --model m --tp 8   # comment", True),
                   (10, "scaleup topo list", True),
                   (1, "scaleup topo show maia200", False)]
