"""`pilotproof store import` and `store export` as a user runs them, on SQLite and a real
influxd: a historian's line protocol (gzip, with broken lines among the good), CSV with
the documented column mapping, idempotent re-import, and a whole store moved through an
export — the KPIs and the sealed chains the same after as before."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kpi import Window, evaluate
from simulators import Backfill, backfill, load_scenario
from telemetry import DuckdbStore, InfluxConfig, InfluxStore, SqliteStore, Store
from telemetry.localserver import LocalInfluxd
from telemetry.seal import KPI_STREAM, Sealer
from tests.conftest import new_influx_store
from verifier.chain import read_chains

SCENARIO = "fiveg-factory-pass"
PROFILE = "miit2021-5g-factory"
HOUR = Window(start=datetime.fromisoformat("2026-10-29T08:00:00+08:00"),
              end=datetime.fromisoformat("2026-10-29T09:00:00+08:00"))  # fmt: skip


def pp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pilotproof.cli", *args], capture_output=True,
                          text=True, timeout=300, env={"COLUMNS": "200",
                          "PATH": "/usr/bin:/bin"})  # fmt: skip


def history_lines() -> list[str]:
    """An hour of the scenario as a historian would export it: line protocol."""
    gen = Backfill(load_scenario(SCENARIO), telemetry=True)
    return [line for block in gen.blocks(HOUR.start_ns, HOUR.end_ns) for line in block.lines()]


@pytest.fixture(params=["sqlite", "influx", "duckdb"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Callable[[], Store]]]:
    """A store URL for the command, and how to open a client of it for the checks (in
    the event loop that uses it)."""
    if request.param == "sqlite":
        path = tmp_path / "into.db"
        yield f"sqlite:{path}", lambda: SqliteStore(path)
    elif request.param == "duckdb":
        path = tmp_path / "into.duckdb"
        yield f"duckdb:{path}", lambda: DuckdbStore(path)
    else:
        influxd: LocalInfluxd = request.getfixturevalue("influxd")

        async def create() -> InfluxConfig:
            store = await new_influx_store(influxd)
            await store.close()
            return store.config

        config = asyncio.run(create())
        yield f"{influxd.url}/?db={config.database}", lambda: InfluxStore(config)


async def results(store: Store) -> list[dict[str, object]]:
    ev = await evaluate(PROFILE, HOUR, store, load_scenario(SCENARIO).inventory())
    await store.close()
    return [r.model_dump(exclude={"queries"}) for r in ev.results]


async def direct() -> list[dict[str, object]]:
    """The same hour written by the simulator itself: what the import must equal."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "direct.db")
        await backfill(load_scenario(SCENARIO), store, HOUR.start_ns, HOUR.end_ns,
                       telemetry=True)  # fmt: skip
        return await results(store)


def sealed_hour(path: Path) -> None:
    """The scenario's hour in a new SQLite store at `path`, sealed by agent gw-a."""

    async def seal() -> None:
        store = SqliteStore(path)
        await backfill(load_scenario(SCENARIO), store, HOUR.start_ns, HOUR.end_ns,
                       sealer=Sealer(Ed25519PrivateKey.generate(), "gw-a", KPI_STREAM))  # fmt: skip
        await store.close()

    asyncio.run(seal())


def test_a_historians_line_protocol_is_imported_and_its_bad_lines_named(
    tmp_path: Path, target: tuple[str, Callable[[], Store]]
) -> None:
    url, store_of = target
    good = history_lines()
    bad = [
        "not line protocol at all",
        'pp_batch,site=ningbo-plant-1,agent=gw,stream=kpi seq=0i,root="x" 1',
        'telemetry,site=ningbo-plant-1,element=agv-01,point=p value="high",quality=0i 1',
        "telemetry,site=ningbo-plant-1,element=agv-01,colour=red,point=p value=1,quality=0i 1",
        "element_status,site=other-plant,element=agv-01,kind=agv,link=5g online=true 1",
    ]
    body = "\n".join(good[:100] + bad + good[100:]).encode() + b"\n\xff\xfe not utf-8\n"
    path = tmp_path / "history.lp.gz"
    path.write_bytes(gzip.compress(body))
    site = load_scenario(SCENARIO).site
    done = pp("store", "import", str(path), "--store", url, "--site", site)
    assert done.returncode == 1, done.stdout + done.stderr  # lines were refused
    said = done.stdout
    assert f"imported {len(good):,} points" in said, said
    assert "refused 6" in said, said
    for n, reason in ((101, "expected"), (102, "not device data"), (103, "contract's type"),
                      (104, "'colour' is not one"), (105, "importing into"),
                      (len(good) + len(bad) + 1, "not UTF-8")):  # fmt: skip
        line = next((x for x in said.splitlines() if f"history.lp.gz:{n}" in x), "")
        assert reason in line, (n, said)
    # what was imported is exactly the simulator's hour: every KPI the same
    assert asyncio.run(results(store_of())) == asyncio.run(direct())
    # again: each point stored once (an import is idempotent)
    again = pp("store", "import", str(path), "--store", url, "--site", site)
    assert f"imported {len(good):,} points" in again.stdout
    assert asyncio.run(results(store_of())) == asyncio.run(direct())  # nothing doubled


def test_csv_rows_are_mapped_by_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "meters.csv"
    path.write_text(
        "time,line,output,defects,energy_kwh\n"
        "2026-10-29 08:00,line-1,120,3,45.5\n"  # local time, in --tz
        "2026-10-29T00:10:00+00:00,line-1,118,2,44\n"
        "1793232600000000000,line-2,90,,30\n"  # integer ns; an empty cell is no field
        "2026-10-29 08:20,line-2,lots,1,2\n",  # not a number
        encoding="utf-8",
    )
    db = tmp_path / "csv.db"
    done = pp("store", "import", str(path), "--store", f"sqlite:{db}", "--site", "p1",
              "--measurement", "production")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "imported 3 points" in done.stdout
    assert "meters.csv:5" in done.stdout
    assert "output = 'lots' is not a float" in done.stdout

    async def read() -> list[object]:
        store = SqliteStore(db)
        rows = await store.read("production", 0, 1 << 62, where={"site": "p1"})
        await store.close()
        return rows

    rows = asyncio.run(read())
    assert len(rows) == 3
    first = next(p for p in rows if p.tags["line"] == "line-1")  # type: ignore[attr-defined]
    assert first.time_ns == HOUR.start_ns  # type: ignore[attr-defined]  # 08:00 in Shanghai
    assert first.fields == {"output": 120.0, "defects": 3.0, "energy_kwh": 45.5}  # type: ignore[attr-defined]


def test_a_store_moves_whole_through_an_export(tmp_path: Path) -> None:
    """Sealed history exported from one store and imported into another: the KPIs and the
    agents' chains (what evidence is built from) are the same in both."""
    s = load_scenario(SCENARIO)
    src, dst = tmp_path / "from.db", tmp_path / "to.db"

    sealed_hour(src)
    out = tmp_path / "all.lp.gz"
    done = pp("store", "export", str(out), "--store", f"sqlite:{src}", "--from",
              "2026-10-29T08:00", "--to", "2026-10-29T09:00")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    refused = pp("store", "import", str(out), "--store", f"sqlite:{dst}")
    assert refused.returncode == 1  # evidence rows are not device data …
    assert "bad_measurement (pp_batch)" in refused.stdout
    moved = pp("store", "import", str(out), "--store", f"sqlite:{tmp_path / 'whole.db'}",
               "--whole-store")  # fmt: skip
    assert moved.returncode == 0, moved.stdout + moved.stderr  # … unless moving a store

    async def chains(path: Path) -> object:
        store = SqliteStore(path)
        try:
            return await read_chains(store, s.site)
        finally:
            await store.close()

    # pp_batch and pp_lines sit at time = seq: an export takes the site's whole chain
    assert asyncio.run(chains(tmp_path / "whole.db")) == asyncio.run(chains(src))
    assert asyncio.run(results(SqliteStore(tmp_path / "whole.db"))) == asyncio.run(
        results(SqliteStore(src))
    )


def test_import_refuses_a_missing_file_and_a_bad_format(tmp_path: Path) -> None:
    done = pp("store", "import", str(tmp_path / "nope.lp"), "--store", "sqlite:x.db")
    assert done.returncode == 2
    assert "no such file" in done.stdout + done.stderr
    (tmp_path / "a.lp").write_text("")
    done = pp("store", "import", str(tmp_path / "a.lp"), "--store", "sqlite:x.db",
              "--format", "xml")  # fmt: skip
    assert done.returncode == 2
    assert "one of auto, lp, csv" in done.stdout + done.stderr


def test_a_line_past_a_mebibyte_is_refused_unread(tmp_path: Path) -> None:
    """A file of zeros without a newline must not fill memory: the line is refused by its
    number and the lines after it are imported."""
    good = history_lines()[:3]
    path = tmp_path / "long.lp"
    path.write_bytes(good[0].encode() + b"\n" + b"0" * (3 << 20) + b"\n"
                     + "\n".join(good[1:]).encode() + b"\n")  # fmt: skip
    done = pp("store", "import", str(path), "--store", f"sqlite:{tmp_path / 'l.db'}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "imported 3 points" in done.stdout
    assert "long.lp:2: a line of more than 1,048,576 bytes" in done.stdout


def test_a_truncated_gzip_imports_what_it_holds_and_says_where_it_broke(tmp_path: Path) -> None:
    lines = history_lines()[:5000]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "cut.lp.gz"
    path.write_bytes(whole[: len(whole) // 2])
    done = pp("store", "import", str(path), "--store", f"sqlite:{tmp_path / 'c.db'}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert "the compressed data ends or breaks after line" in said, said
    assert "bad_gzip 1" in said
    # every whole line the cut stream still holds is imported (as `zcat` would give it)
    held = zlib.decompressobj(wbits=31).decompress(whole[: len(whole) // 2])
    whole_lines = held.count(b"\n")
    assert f"imported {whole_lines:,} points" in said, (whole_lines, said)


def test_an_import_never_changes_what_an_agent_sealed(tmp_path: Path) -> None:
    """Status rows inside the span an agent sealed are refused (a bundle of that time would
    be built from other numbers than the agent signed); outside it they are imported."""
    s = load_scenario(SCENARIO)
    db = tmp_path / "sealed.db"

    sealed_hour(db)
    e = s.inventory().elements[0]
    inside, after = HOUR.start_ns + 600 * 10**9, HOUR.end_ns + 3600 * 10**9
    path = tmp_path / "late.lp"
    path.write_text(
        f"element_status,site={s.site},element={e.id},kind={e.kind},link={e.link} "
        f"online=false {inside}\n"
        f"element_status,site={s.site},element={e.id},kind={e.kind},link={e.link} "
        f"online=true {after}\n"
    )
    done = pp("store", "import", str(path), "--store", f"sqlite:{db}")
    assert done.returncode == 1, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert "imported 1 points" in said, said
    assert "late.lp:1: an agent sealed this site's element_status at this time" in said
    assert "sealed 1" in said


def test_export_never_destroys_a_store_or_an_earlier_export(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    asyncio.run(SqliteStore(db).close())
    window = ("--from", "2026-10-29", "--to", "2026-10-30")
    onto = pp("store", "export", str(db), "--store", f"sqlite:{db}", *window)
    assert onto.returncode == 2
    assert "is the store itself" in onto.stdout + onto.stderr
    earlier = tmp_path / "earlier.lp"
    earlier.write_text("kept\n")
    bad_zone = pp("store", "export", str(earlier), "--store", f"sqlite:{db}", *window,
                  "--tz", "Nowhere/City")  # fmt: skip
    assert bad_zone.returncode == 2
    assert "not a time zone" in bad_zone.stdout + bad_zone.stderr
    assert earlier.read_text() == "kept\n"
    for args in (("--from", "0001-01-01", "--to", "2026-10-30"),):
        r = pp("store", "export", str(earlier), "--store", f"sqlite:{db}", *args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "Traceback" not in r.stdout + r.stderr
    missing = pp("store", "export", str(tmp_path / "no" / "x.lp"), "--store", f"sqlite:{db}",
                 *window)  # fmt: skip
    assert missing.returncode == 2
    assert "existing folder" in missing.stdout + missing.stderr


def test_csv_as_spreadsheets_write_it_and_every_refusal_names_its_line(tmp_path: Path) -> None:
    """A byte-order mark, a quoted cell with a comma, a comment row, nanosecond and
    pre-1970 times, a duplicate column, a huge cell, an impossible point_health, a
    negative count, a store that is not SQLite: each imported or refused by file and
    line, never a traceback."""
    db = f"sqlite:{tmp_path / 'c.db'}"
    good = tmp_path / "ok.csv"
    good.write_bytes(
        "\ufefftime,measurement,site,element,point,value,text\n"
        "# exported by historian X\n"
        "2026-10-29T00:00:00.000000001Z,telemetry,s1,e1,p1,1,\n"
        "2026-10-29T00:00:00.000000002Z,telemetry,s1,e1,p1,2,\n"
        '2026-10-29T00:00:01Z,telemetry,s1,e1,p2,,"a, b"\n'
        "1969-12-31T23:59:59.5Z,telemetry,s1,e1,p3,3,\n"
        f"2026-10-29T00:00:02Z,telemetry,s1,e1,p4,,{'x' * 200_000}\n".encode()
    )
    done = pp("store", "import", str(good), "--store", db)
    said = " ".join(done.stdout.split())
    assert done.returncode == 1, said + done.stderr
    assert "imported 3 points" in said, said  # two nanoseconds apart: two points
    assert "skipped 1 comment line(s)" in said
    assert "ok.csv:6: time '1969-12-31T23:59:59.5Z' is outside 1970–2199" in said
    assert "ok.csv:7:" in said
    twice = tmp_path / "twice.csv"
    twice.write_text("time,measurement,value,value\n1,telemetry,1,2\n")
    done = pp("store", "import", str(twice), "--store", db)
    assert "the column 'value' is there twice" in " ".join(done.stdout.split())
    odd = tmp_path / "odd.lp"
    odd.write_text(
        "point_health,site=s1,element=e1,point=p1 expected=10i,received=12i,good=12i 1\n"
        "identifier,site=s1,node=n,enterprise=e resolutions=-1i 1\n"
        "telemetry,site=s1,element=e1,point=p1 value=1,quality=7i 1\n"
        'security_event,site=s1,type=scan,severity=urgent,target=plc disposition="x" 1\n'
        'security_event,site=s1,type=scan,severity=low,target=plc disposition=" " 1\n'
        "coverage_sample,site=s1,area=a,tech=lte signal_dbm=-90 1\n"
        "coverage_sample,site=s1,area=a,tech=5g signal_dbm=12 1\n"
    )
    done = pp("store", "import", str(odd), "--store", db)
    said = " ".join(done.stdout.split())
    assert "odd.lp:1: point_health of e1.p1: good 12 ≤ received 12 ≤ expected 10" in said
    assert "odd.lp:2: identifier.resolutions = -1: a count is never negative" in said
    assert "odd.lp:3: quality 7 is not 0 (good), 1 (uncertain) or 2 (bad)" in said
    assert "odd.lp:4: severity 'urgent' is not one of" in said
    assert "odd.lp:5: security_event disposition is blank" in said
    assert "odd.lp:6: tech 'lte' is not one of ['5g', 'wifi']" in said
    assert "odd.lp:7: signal_dbm 12.0 is not a received power" in said
    not_db = tmp_path / "not.db"
    not_db.write_text("hello\n" * 100)
    done = pp("store", "import", str(good), "--store", f"sqlite:{not_db}")
    assert done.returncode == 2
    assert "is it a SQLite store of pilotproof?" in done.stdout + done.stderr
    for d in (done,):
        assert "Traceback" not in d.stdout + d.stderr


def test_a_month_is_evaluated_on_duckdb_from_an_export(tmp_path: Path) -> None:
    """The road docs/store.md gives for long windows: export the live store, import it
    into DuckDB, evaluate there — as commands, with the same KPIs as the live store."""
    src = tmp_path / "live.db"
    sealed_hour(src)
    out = tmp_path / "all.lp.gz"
    done = pp("store", "export", str(out), "--store", f"sqlite:{src}", "--from",
              "2026-10-29T08:00", "--to", "2026-10-29T09:00")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    duck = tmp_path / "month.duckdb"
    moved = pp("store", "import", str(out), "--store", f"duckdb:{duck}", "--whole-store")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    args = ("kpi", "evaluate", "--profile", PROFILE, "--scenario", SCENARIO,
            "--from", "2026-10-29T08:00", "--to", "2026-10-29T09:00", "--json")  # fmt: skip
    live, columnar = pp(*args, "--store", f"sqlite:{src}"), pp(*args, "--store", f"duckdb:{duck}")
    assert live.returncode == columnar.returncode, live.stdout + columnar.stdout
    assert [r | {"queries": []} for r in json.loads(live.stdout)["results"]] == [
        r | {"queries": []} for r in json.loads(columnar.stdout)["results"]
    ]
    assert asyncio.run(results(DuckdbStore(duck))) == asyncio.run(results(SqliteStore(src)))


def test_an_agent_and_the_service_refuse_a_duckdb_store_and_say_why(tmp_path: Path) -> None:
    served = pp("serve", "--scenario", SCENARIO, "--profile", PROFILE,
                "--store", f"duckdb:{tmp_path / 'x.duckdb'}")  # fmt: skip
    assert served.returncode == 2
    assert "one process at a time" in served.stdout + served.stderr
    site = tmp_path / "site.toml"
    site.write_text('[agent]\nid = "gw"\nkey = "k.pem"\n[store]\nurl = "duckdb:x.duckdb"\n')
    agent = pp("agent", "check", str(site))
    assert agent.returncode != 0
    assert "one process at a time" in agent.stdout + agent.stderr
