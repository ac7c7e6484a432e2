from __future__ import annotations

from pathlib import Path

import pytest

from simulators import Scenario, load_scenario

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def types_scenario() -> Scenario:
    """One element per protocol with every data type, byte/word order and status."""
    return load_scenario(HERE / "scenarios" / "protocol-types.yaml")


def at(iso: str) -> int:
    """UTC ns of a local Asia/Shanghai time."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    d = datetime.fromisoformat(iso).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return int(d.timestamp()) * 1_000_000_000
