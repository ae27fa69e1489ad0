"""The README's generated tables are the ones the code produces (so they stay true)."""

from __future__ import annotations

import re
from pathlib import Path

from nimbus.config import settings_table
from nimbus.features import feature_table

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(name: str) -> str:
    match = re.search(f"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README.read_text(), re.S)
    assert match, f"README lacks the {name} table markers"
    return match.group(1)


def test_settings_table_is_current():
    assert _section("settings") == settings_table(), "run: python -m nimbus.features"


def test_feature_table_is_current():
    assert _section("features") == feature_table(), "run: python -m nimbus.features"
