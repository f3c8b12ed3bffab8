"""A regular (non-editable) install finds the bundled fabrics and examples: pyproject.toml ships every file of
``topologies/`` and ``examples/`` as package data of ``scaleup_data``, lists every code package, and the
resolver the CLI uses (``topo.bundled``) finds that installed layout from any directory. No wheel is built here
(the layout setuptools writes is rebuilt from pyproject.toml's own mapping); ``pip wheel .`` was checked by hand
(docs/INTERFACES.md, "Install layout")."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import sweep.spec
import topo
from cli import main
from topo.bundled import BUNDLED, DATA_PACKAGE, bundled_dir, bundled_file

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 has no TOML reader in the standard library
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {"tests", "bench", "docs", "build", "dist"}


def _config() -> dict:
    if tomllib is None:
        pytest.skip("reading pyproject.toml needs tomllib (Python 3.11+)")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _shipped_files(cfg: dict) -> dict[str, set[str]]:
    """Package data per bundled kind, as setuptools collects it: each ``scaleup_data.KIND`` package's globs
    (recursive ``**`` included) under the folder ``package-dir`` maps it to. Paths relative to that folder."""
    out: dict[str, set[str]] = {}
    for kind in BUNDLED:
        pkg = f"{DATA_PACKAGE}.{kind}"
        assert pkg in cfg["packages"], f"pyproject.toml: {pkg} not in [tool.setuptools] packages"
        src = ROOT / cfg["package-dir"][pkg]
        files = set()
        for pattern in cfg["package-data"][pkg]:
            files |= {os.path.relpath(f, src) for f in glob.glob(str(src / pattern), recursive=True)
                      if os.path.isfile(f)}
        out[kind] = files
    return out


def _in_the_tree(top: str) -> bool:
    """A top-level folder of the checkout that holds the project's own code: not a shipped-elsewhere folder, not a
    hidden one (.git, .venv, .tox) and not a virtual environment a user made in the checkout (``pyvenv.cfg``)."""
    return top not in NOT_SHIPPED and not top.startswith(".") and not (ROOT / top / "pyvenv.cfg").exists()


def test_every_code_package_is_listed():
    """A folder with an ``__init__.py`` that pyproject.toml does not list would be missing from the wheel."""
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.rglob("__init__.py")
             if _in_the_tree(p.parent.relative_to(ROOT).parts[0]) and ".egg-info" not in str(p)}
    listed = {p for p in _config()["packages"] if not p.startswith(DATA_PACKAGE + ".")}
    assert found == listed


@pytest.mark.parametrize("kind", BUNDLED)
def test_every_bundled_file_is_package_data(kind):
    """Each file under topologies/ and examples/ (YAML, CSV, subfolders) is matched by a package-data glob."""
    src = ROOT / _config()["package-dir"][f"{DATA_PACKAGE}.{kind}"]
    assert src == ROOT / kind
    on_disk = {str(p.relative_to(src)) for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert on_disk and on_disk == _shipped_files(_config())[kind]


def test_checkout_resolves_to_the_repository_folders():
    assert topo.TOPOLOGIES_DIR == bundled_dir("topologies") == ROOT / "topologies"
    assert sweep.spec.EXAMPLES_DIR == bundled_dir("examples") == ROOT / "examples"
    with pytest.raises(ValueError):
        bundled_dir("tests")


def test_installed_layout_is_found_from_any_directory(tmp_path):
    """The wheel's layout (``site/scaleup_data/{topologies,examples}/...``, rebuilt from pyproject.toml's
    mapping) on sys.path, run from an empty directory: the CLI's resolver takes the installed copy, and every
    bundled fabric and example resolves by name or by the docs' repository-relative path into it."""
    site = tmp_path / "site"
    for kind, files in _shipped_files(_config()).items():
        for rel in files:
            dst = site / DATA_PACKAGE / kind / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / kind / rel, dst)
    work = tmp_path / "work"
    work.mkdir()
    code = textwrap.dedent(f"""
        from pathlib import Path
        import topo, sweep.spec
        from topo.loader import _resolve_path
        from fleet.whatif import load_jobs
        site = Path({str(site)!r}).resolve()
        assert topo.TOPOLOGIES_DIR == site / "scaleup_data" / "topologies", topo.TOPOLOGIES_DIR
        assert sweep.spec.EXAMPLES_DIR == site / "scaleup_data" / "examples", sweep.spec.EXAMPLES_DIR
        assert topo.list_fabrics() == {sorted(p.stem for p in (ROOT / "topologies").glob("*.yaml"))!r}
        assert sweep.spec.list_examples() == {sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))!r}
        for name in topo.list_fabrics():
            assert _resolve_path(name).is_relative_to(site), name
        for name in sweep.spec.list_examples():
            assert sweep.spec._example_path(name).is_relative_to(site), name
        assert _resolve_path("examples/fabrics/my-256-chip.yaml").is_relative_to(site)
        print(topo.load("maia200-small").n_chips, len(load_jobs("examples/whatif-jobs.yaml")[1]),
              sweep.spec.load_spec("busbw-maia200-vs-gb200").name)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.split() == ["384", "2", "busbw-maia200-vs-gb200"]


def test_docs_paths_work_outside_a_checkout(tmp_path, monkeypatch):
    """``scaleup topo show examples/fabrics/my-256-chip.yaml`` (docs/fabrics.md) runs from a directory with no
    examples/ folder; a file of the user's own at that path wins over the bundled one."""
    monkeypatch.chdir(tmp_path)
    assert bundled_file("examples/fabrics/my-256-chip.yaml") == ROOT / "examples" / "fabrics" / "my-256-chip.yaml"
    assert bundled_file("./topologies/maia200.yaml") == ROOT / "topologies" / "maia200.yaml"
    for miss in ("examples/none.yaml", "../examples/whatif-jobs.yaml", "tests/conftest.py", "maia200",
                 "job: x\nfabric: examples/whatif-jobs.yaml", "examples/" + "x" * 5000):
        assert bundled_file(miss) is None, miss
    res = CliRunner().invoke(main, ["topo", "show", "examples/fabrics/my-256-chip.yaml", "--json"])
    assert res.exit_code == 0, res.output
    own = tmp_path / "examples" / "fabrics" / "my-256-chip.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("builder: nonesuch\n", encoding="utf-8")
    assert bundled_file("examples/fabrics/my-256-chip.yaml") is None
    res = CliRunner().invoke(main, ["topo", "show", "examples/fabrics/my-256-chip.yaml"])
    assert res.exit_code == 2 and "nonesuch" in res.output
