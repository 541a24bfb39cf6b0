"""The blocking-call table: its syntax, precedence, and the user's extensions."""

from __future__ import annotations

import pytest

from vibefix.config import ConfigError, load_config
from vibefix.known.blocking import BlockingTable, Entry, Kind, TableError, shipped_table, table_for


def kind(table: BlockingTable, target: str) -> Kind | None:
    entry = table.lookup(target)
    return entry.kind if entry is not None else None


def test_exact_key_wins_over_one_level_wildcard_over_deep_wildcard():
    table = BlockingTable.from_mapping(
        {
            "db.Session().**": "blocking",
            "db.Session().*": "offload",
            "db.Session().add": "nonblocking",
        }
    )
    assert kind(table, "db.Session().add") is Kind.NONBLOCKING
    assert kind(table, "db.Session().query") is Kind.OFFLOAD
    assert kind(table, "db.Session().query().first") is Kind.BLOCKING
    assert table.lookup("db.Engine().connect") is None


def test_a_codemod_code_means_an_async_twin_that_codemod_rewrites():
    assert shipped_table().lookup("time.sleep") == Entry(Kind.TWIN, "VF100")
    assert shipped_table().lookup("requests.Session().get") is not None


def test_user_entries_extend_and_override_the_shipped_table():
    table = table_for({"blocking": {"subprocess.run": "nonblocking", "stripe.**": "offload"}})
    assert kind(table, "subprocess.run") is Kind.NONBLOCKING
    assert kind(table, "stripe.Charge.create") is Kind.OFFLOAD
    assert kind(table, "shutil.rmtree") is Kind.OFFLOAD


def test_unknown_value_is_an_error_naming_the_entry():
    with pytest.raises(TableError, match=r"'stripe\.Charge\.create' = 'fast'"):
        BlockingTable.from_mapping({"stripe.Charge.create": "fast"})


def test_bad_entry_in_pyproject_is_a_configuration_error_naming_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.vibefix.blocking]\n"stripe.Charge.create" = "sometimes"\n'
    )
    with pytest.raises(ConfigError, match=r"pyproject\.toml: \[tool\.vibefix\.blocking\]"):
        load_config([tmp_path])
