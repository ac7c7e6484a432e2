"""`pilotproof demo --no-serve`, as CI and a newcomer run it: a real process, embedded
broker, real agent, sealed history, KPI table, a bundle verified offline."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import run


def test_the_demo_ends_with_a_verified_bundle_and_the_kpi_table(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    r = run("demo", "--no-serve", "--days", "2", "--live-seconds", "3", "--work-dir", str(work))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    assert "VERIFIED 验证通过" in out
    assert "5G share" in out  # the KPI table
    # the declared KPIs filled from the sample declarations, copied beside for the user
    assert "达标 PASS" in out
    assert "未申报" not in out
    assert "attachment" in (work / "declared.yaml").read_text(encoding="utf-8")
    assert "points accepted over modbus, mqtt, opcua" in out  # the live agent, every protocol
    assert "W_CHAIN_STARTS_INSIDE" not in out  # the history starts before the window
    assert (work / "bundle.tar.gz").is_file()
    assert (work / "trusted-keys.toml").read_text().count("[[key]]") == 3
    # every agent is pinned to the site, as docs/deploy.md asks of a real one: the bundle
    # verified with both chains in it
    from verifier import load_trust

    trust = load_trust(work / "trusted-keys.toml")
    pinned = {k.name: k.site for k in trust.key if k.role == "agent"}
    assert set(pinned) == {"demo-history", "demo-gateway"}
    assert len(set(pinned.values())) == 1
    assert None not in pinned.values()
