"""The catalogue as users read it: `model list` and docs/models.md's table show every model
with the contract the engine runs it under and its licence, non-commercial ones flagged."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from alphamatte.cli.main import cli
from alphamatte.cli.model import contract_summary
from alphamatte.engine.catalogue.entries import CATALOGUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_docs_table_matches_the_catalogue() -> None:
    section = DOC.read_text(encoding="utf-8").split("## The catalogue", 1)[1].split("\n#", 1)[0]
    rows = {
        line.split("|")[1].strip().split("`")[1]: line
        for line in section.splitlines()
        if line.startswith("| `")
    }
    assert len(CATALOGUE) >= 15
    for spec in CATALOGUE:
        row = rows.get(spec.name)
        assert row is not None, f"{spec.name} is missing from docs/models.md"
        cells = [cell.strip() for cell in row.split("|")]
        assert contract_summary(spec) in cells, f"{spec.name}: the documented contract differs"
        assert spec.licence.split(" (")[0].split(":")[0] in row
        assert ("**NC**" in row) is (not spec.commercial)
        assert cells[-2] == str(spec.price)


def test_model_list_shows_every_model_and_flags_non_commercial(tmp_path: Path) -> None:
    listed = CliRunner().invoke(cli, ["model", "list"], env={"ALPHAMATTE_HOME": str(tmp_path)})
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    for spec in CATALOGUE:
        row = next((line for line in lines if line.split(" ")[0] == spec.name), None)
        assert row is not None, f"{spec.name} is missing from model list"
        assert contract_summary(spec) in row
        assert (" NC " in row) is (not spec.commercial)
        assert " yes " not in row  # nothing is installed in an empty home
