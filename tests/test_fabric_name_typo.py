"""A mistyped bundled fabric name: the error keeps the full list and names the close match (difflib)."""
import pytest
from click.testing import CliRunner

from cli import main
from topo import load
from topo.errors import SpecError
from topo.loader import list_fabrics


@pytest.mark.parametrize("typo, meant", [("maia20", "maia200"), ("dgx-h10", "dgx-h100"),
                                         ("gb200-nvl7", "gb200-nvl72")])
def test_typo_names_close_match_and_keeps_list(typo: str, meant: str) -> None:
    assert meant in list_fabrics()
    with pytest.raises(SpecError) as exc:
        load(typo)
    msg = str(exc.value)
    assert f"did you mean {meant!r}?" in msg
    assert all(name in msg for name in list_fabrics())
    assert "\n" not in msg


def test_no_close_match_no_suggestion() -> None:
    with pytest.raises(SpecError) as exc:
        load("zzzzqqqq")
    assert "did you mean" not in str(exc.value)


def test_cli_topo_show_typo() -> None:
    res = CliRunner().invoke(main, ["topo", "show", "dgx-h10"])
    assert res.exit_code == 2
    assert "did you mean 'dgx-h100'?" in res.output
    assert "Traceback" not in res.output
