"""The docs stay reproducible: every figure in docs/img/ is made by a command a user can run
(docs/make_figures.py collects them), the quick ones regenerate here, every number quoted in the docs with a
``<!-- num: ... -->`` tag equals what its command prints now, and the builder defaults in docs/fabrics.md are
the code's. When a test here fails after a model change, run ``python docs/make_figures.py`` (one command:
figures and numbers) and commit docs/."""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
mf = importlib.util.module_from_spec(_spec)
sys.modules["make_figures"] = mf  # dataclasses look their module up
_spec.loader.exec_module(mf)


def test_every_docs_image_is_made_by_a_command():
    """Each image the docs show, and each file in docs/img/, is an output of an example's Run block or of a
    ``<!-- make: ... -->`` comment (so `python docs/make_figures.py` regenerates all of them)."""
    made = {o for job in mf.figure_jobs() for o in job.outputs}
    shown = mf.referenced_images()
    on_disk = {f"docs/img/{p.name}" for p in (ROOT / "docs" / "img").glob("*") if p.suffix in (".png", ".svg", ".pdf")}
    assert shown <= on_disk, f"shown but missing: {sorted(shown - on_disk)}"
    assert not (on_disk - made), f"no command makes {sorted(on_disk - made)}; add a Run line or a make: comment"


def test_readme_figures_come_from_the_examples():
    """The README's figures are made by the Run lines of examples/*.yaml (what a user reads next to them)."""
    readme_imgs = {m.group(1) for m in mf.IMG_RE.finditer((ROOT / "README.md").read_text(encoding="utf-8"))}
    from_examples = {o for job in mf.figure_jobs() if job.source.startswith("examples/") for o in job.outputs}
    assert readme_imgs and readme_imgs <= from_examples, sorted(readme_imgs - from_examples)


@pytest.mark.parametrize("job", [j for j in mf.figure_jobs() if j.fast], ids=lambda j: ",".join(j.outputs))
def test_fast_figures_regenerate(job, tmp_path):
    scratch, img = tmp_path / "work", tmp_path / "img"
    scratch.mkdir()
    img.mkdir()
    for cmd in job.commands:
        mf.run(cmd, scratch, img_dir=img)
    for out in job.outputs:
        data = (img / Path(out).name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" or out.endswith((".svg", ".pdf")), out
        assert len(data) > 10_000, out  # a drawing, not an empty canvas


FAST_TAGS = [t for t in mf.all_tags() if not t.slow]


def test_docs_hold_fast_tags_of_both_kinds():
    assert any(isinstance(t, mf.NumberTag) for t in FAST_TAGS), "no tagged numbers found"
    assert any(isinstance(t, mf.OutputTag) for t in FAST_TAGS), "no fast output block found"


@pytest.mark.parametrize("doc", sorted({t.file for t in FAST_TAGS}), ids=lambda f: f.name)
def test_quoted_numbers_match_the_code(doc, tmp_path):
    """Every fast ``<!-- num: ... -->`` tag and ``<!-- out: ... -->`` block of one document (README.md and
    docs/*.md, one test each, so the suite can spread them) holds what its command prints now (each command run
    once for both kinds, in document order in one scratch directory)."""
    tags = [t for t in FAST_TAGS if t.file == doc]
    stale = [(t, new) for t, new in mf.evaluate_tags(tags, tmp_path) if new != t.text]
    msg = "\n".join(mf.stale_report(t, new) for t, new in stale)
    assert not stale, msg + "\n-- run `python docs/make_figures.py` and commit docs/"


def test_run_block_parser(tmp_path):
    spec = tmp_path / "x.yaml"
    spec.write_text("# What it is.\n# Run (fast; a remark\n# that continues):\n#   scaleup sweep x --out x.parquet\n"
                    "#   scaleup plot x.parquet --kind xy \\\n#       -o docs/img/x.png   (a remark)\n#\n"
                    "# Other text.\njob: topo\n", encoding="utf-8")
    cmds, fast = mf.example_commands(spec)
    assert fast and cmds == ["scaleup sweep x --out x.parquet", "scaleup plot x.parquet --kind xy -o docs/img/x.png"]
    job = mf.FigureJob("x", tuple(cmds), fast)
    assert job.outputs == ["docs/img/x.png"]
    argv = mf.argv_of(cmds[1], img_dir=tmp_path)
    assert argv[-1] == str(tmp_path / "x.png") and argv[1:3] == ["-m", "cli"]


def test_pick_value_and_rewrite(tmp_path):
    out = '[{"busbw_GBps": 354.45, "n": 8}]'
    assert mf.pick_value(out, "0.busbw_GBps") == 354.45
    assert mf.pick_value(out, "0.busbw_GBps*1e9") == pytest.approx(354.45e9)
    assert mf.pick_value('{"a": {"b": 2000}}', "a.b/1e3") == 2.0
    assert mf.pick_value("405B  H100  +48%\n", r"re:405B\s+H100\s+([+-]\d+%)") == "+48%"
    doc = tmp_path / "d.md"
    doc.write_text("x <!-- num: scaleup topo list :: n :: {:.0f} -->7<!-- /num --> y", encoding="utf-8")
    (tag,) = mf.number_tags([doc])
    assert tag.text == "7" and tag.fmt == "{:.0f}"
    assert mf.rewrite_tags([(tag, "9")]) == 1
    assert doc.read_text(encoding="utf-8") == "x <!-- num: scaleup topo list :: n :: {:.0f} -->9<!-- /num --> y"


_TABLE = "print('note'); print('| a | b |'); print('|---|---|'); print('| 1 | 2 |'); print(); print('| x |')"


def test_output_tag_parsing(tmp_path):
    """Block tags: slow marker, a command wrapped over lines, the optional edit field, the lines between the tags
    (and a number tag beside them is still a number tag)."""
    doc = tmp_path / "d.md"
    doc.write_text("Text <!-- num: scaleup topo list :: n :: {:.0f} -->7<!-- /num -->.\n\n"
                   "<!-- out slow: python -m collectives.validation\n   --detail :: table:2 -->\n| a |\n|---|\n<!-- /out -->\n"
                   "prose\n<!-- out: scaleup topo list :: re:^dgx :: s/^dgx-/DGX / -->\n<!-- /out -->\n", encoding="utf-8")
    a, b = mf.output_tags([doc])
    assert (a.slow, a.command, a.filter, a.edit, a.text) == (
        True, "python -m collectives.validation --detail", "table:2", "", "| a |\n|---|\n")
    assert (b.slow, b.command, b.filter, b.edit, b.text) == (False, "scaleup topo list", "re:^dgx", "s/^dgx-/DGX /", "")
    assert doc.read_text(encoding="utf-8")[a.span[0]:a.span[1]] == a.text
    kinds = [type(t).__name__ for t in mf.all_tags([doc])]
    assert kinds == ["NumberTag", "OutputTag", "OutputTag"]  # document order


def test_an_unpaired_out_tag_is_an_error(tmp_path):
    """A block whose closing tag is missing does not swallow the next block: the file is refused, naming the line."""
    doc = tmp_path / "d.md"
    doc.write_text("<!-- out: scaleup topo list :: all -->\nx\n\n<!-- out: scaleup topo list :: all -->\ny\n<!-- /out -->\n"
                   "Quoted in prose: `<!-- out: C :: F -->` ... `<!-- /out -->`.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.md:1: an out tag without its pair"):
        mf.output_tags([doc])
    doc.write_text(doc.read_text(encoding="utf-8").replace("x\n\n", "x\n<!-- /out -->\n"), encoding="utf-8")
    assert [t.text for t in mf.output_tags([doc])] == ["x\n", "y\n"]


def test_select_lines():
    out = "title\n| a | b |\n|---|---|\n| 1 | 2 |\n\n| x |\nsum: 3 (4 s)\n"
    assert mf.select_lines(out, "all") == out
    assert mf.select_lines(out, "table:1") == "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert mf.select_lines(out, "table:2") == "| x |\n"
    assert mf.select_lines(out, r"re:^\|") == "| a | b |\n|---|---|\n| 1 | 2 |\n| x |\n"
    assert mf.select_lines(out, "re:^sum:") == "sum: 3 (4 s)\n"
    assert mf.select_lines(out, "re:^sum:", r"s/ \(\d+ s\)$//") == "sum: 3\n"
    assert mf.select_lines(out, "table:1", r"s/^\| (?=\d)/| row /") == "| a | b |\n|---|---|\n| row 1 | 2 |\n"
    assert mf.select_lines(out, "table:2", "s#^#    #") == "    | x |\n"  # any delimiter
    with pytest.raises(LookupError, match="2 markdown table"):
        mf.select_lines(out, "table:3")
    with pytest.raises(LookupError, match="selects no line"):
        mf.select_lines(out, "re:^nothing")
    with pytest.raises(ValueError, match="expected all, table:N or re:REGEX"):
        mf.select_lines(out, "rows")
    with pytest.raises(ValueError, match="s/PATTERN/REPLACEMENT/"):
        mf.select_lines(out, "all", "y/a/b/")


def test_check_reports_stale_blocks_and_rewrite_is_idempotent(tmp_path, monkeypatch, capsys):
    """--check: exit 1, the stale block named, the file unchanged; the rewrite fixes it, a second rewrite changes
    no byte, --check then passes; the command runs once for a number tag and a block sharing it."""
    cmd = f'python -c "{_TABLE}"'
    doc = tmp_path / "d.md"
    stale = (f"# Doc\n\nOne: <!-- num: {cmd} :: re:^\\| (\\d) :: {{}} -->9<!-- /num -->.\n\n"
             f"<!-- out: {cmd} :: table:1 -->\n| a | b |\n|---|---|\n| 1 | 9 |\n<!-- /out -->\n\n"
             f"<!-- out: {cmd} :: re:^note :: s/^/> / -->\n<!-- /out -->\nEnd.\n")
    doc.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(mf, "DOC_FILES", [doc])
    calls = []
    real_run = mf.run
    monkeypatch.setattr(mf, "run", lambda c, cwd, img_dir=None: calls.append(c) or real_run(c, cwd, img_dir))
    assert mf.main(["--check", "--no-figures"]) == 1
    assert doc.read_text(encoding="utf-8") == stale
    report = capsys.readouterr().out
    assert "output block stale" in report and "-| 1 | 9 |" in report and "+| 1 | 2 |" in report
    assert "'9' -> '1'" in report and "3 of 3 tags (1 quoted numbers, 2 output blocks) stale" in report
    assert calls == [cmd]
    assert mf.main(["--no-figures"]) == 0
    fixed = doc.read_text(encoding="utf-8")
    assert fixed == stale.replace("-->9<", "-->1<").replace("| 1 | 9 |", "| 1 | 2 |").replace(
        "s/^/> / -->\n", "s/^/> / -->\n> note\n")
    assert mf.main(["--no-figures"]) == 0 and doc.read_text(encoding="utf-8") == fixed
    assert mf.main(["--check", "--no-figures"]) == 0
    assert "0 of 3 tags (1 quoted numbers, 2 output blocks) stale" in capsys.readouterr().out
    assert mf.main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert f"[output] {doc}:6: 3 lines <- {cmd} :: table:1" in listing
    assert f"[number] {doc}:3: '1' <- {cmd}" in listing


def test_a_failing_command_is_reported_and_the_others_still_checked(tmp_path, monkeypatch, capsys):
    ok, bad = f'python -c "{_TABLE}"', 'python -c "import sys; sys.exit(3)"'
    doc = tmp_path / "d.md"
    doc.write_text(f"<!-- out: {bad} :: all -->\nx\n<!-- /out -->\n<!-- out: {ok} :: re:^nothing -->\ny\n<!-- /out -->\n"
                   f"<!-- out: {ok} :: table:2 -->\n| x |\n<!-- /out -->\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="exit 3"):
        mf.evaluate_tags(mf.all_tags([doc]), tmp_path)
    errors = []
    results = mf.evaluate_tags(mf.all_tags([doc]), tmp_path, errors=errors)
    assert [r[1] for r in results] == ["| x |\n"]
    assert [(t.filter, "exit 3" in m or "selects no line" in m) for t, m in errors] == [("all", True), ("re:^nothing", True)]
    monkeypatch.setattr(mf, "DOC_FILES", [doc])
    assert mf.main(["--check", "--no-figures"]) == 1
    out = capsys.readouterr().out
    assert f"{doc}:2: FAILED ({bad} :: all)" in out and "0 of 1 tags (0 quoted numbers, 1 output blocks) stale, 2 failed" in out
    assert mf.argv_of("python bench/x.py --stack vllm")[1:] == [str(mf.ROOT / "bench" / "x.py"), "--stack", "vllm"]


def test_rewrite_keeps_an_edit_made_while_the_commands_ran(tmp_path):
    """The rewrite finds the tags again in the document as it is then: text added above a block meanwhile stays."""
    cmd = f'python -c "{_TABLE}"'
    doc = tmp_path / "d.md"
    doc.write_text(f"<!-- out: {cmd} :: table:2 -->\nold\n<!-- /out -->\n", encoding="utf-8")
    results = mf.evaluate_tags(mf.all_tags([doc]), tmp_path)
    doc.write_text("Added meanwhile.\n\n" + doc.read_text(encoding="utf-8"), encoding="utf-8")
    assert mf.rewrite_tags(results) == 1
    assert doc.read_text(encoding="utf-8") == f"Added meanwhile.\n\n<!-- out: {cmd} :: table:2 -->\n| x |\n<!-- /out -->\n"


def _doc_default(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, tuple):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


@pytest.mark.parametrize("builder", ["two_tier", "switch", "torus", "clos", "full_mesh", "dragonfly"])
def test_builder_keys_and_defaults_are_documented(builder):
    """docs/fabrics.md lists every key of every builder with the default the code uses."""
    from topo.builders import BUILDERS

    text = (ROOT / "docs" / "fabrics.md").read_text(encoding="utf-8")
    m = re.search(rf"### `{builder}` keys\n(.*?)(?:\n\n|\Z)", text, re.S)
    assert m, f"no '### `{builder}` keys' table in docs/fabrics.md"
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]*) \|", m.group(1), re.M))
    params = {k: p.default for k, p in inspect.signature(BUILDERS[builder]).parameters.items() if k != "name"}
    assert set(rows) == set(params), (sorted(set(params) - set(rows)), sorted(set(rows) - set(params)))
    for k, default in params.items():
        assert rows[k].strip() == _doc_default(default), (k, rows[k], default)


def test_docs_option_limits_the_tags_to_the_named_documents(capsys):
    """``--docs whatif.md`` lists (and would check or rewrite) only that document's tags; an unknown name is a
    usage error naming it."""
    assert mf.main(["--list", "--docs", "whatif.md"]) == 0
    tag_lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(("[number", "[output"))]
    assert tag_lines and all("docs/whatif.md:" in ln for ln in tag_lines), tag_lines
    with pytest.raises(SystemExit) as exc:
        mf.main(["--check", "--docs", "whatif.md,nope.md"])
    assert exc.value.code == 2 and "nope.md" in capsys.readouterr().err
