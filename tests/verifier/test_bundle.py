"""Building and verifying bundles from real stores: SQLite, a real influxd, and the
agent's own buffer and forwarder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collectors import Buffer, Forwarder, Metrics
from kpi import Window, evaluate
from simulators import backfill, load_scenario
from telemetry import DeclaredElement, Inventory, Point, SqliteStore
from telemetry.localserver import LocalInfluxd
from telemetry.seal import KPI_STREAM, Sealer
from tests.conftest import new_influx_store
from tests.evidence_fixtures import PROFILE, SCENARIO, WINDOW, Keys, sealed_backfill
from verifier import (
    BuildError,
    build_bundle,
    find_chromium,
    html_to_pdf,
    pack,
    parse_envelope,
    unpack,
    verify_bundle,
)
from verifier.archive import ArchiveError


async def test_a_bundle_verifies_and_recomputes_every_kpi(bundle: Path, keys: Keys) -> None:
    report = await verify_bundle(bundle, keys.trust)
    assert report.ok, report.findings
    assert [c.name for c in report.checks] == ["statement", "files", "chains", "kpis"]
    assert report.batches > 0
    assert report.lines > 0
    assert report.evaluation is not None
    measured = report.evaluation.result("fiveg_wireless_networking_rate")
    assert measured.verdict == "pass"
    assert measured.denominator


async def test_bundle_layout_and_statement(bundle: Path, keys: Keys) -> None:
    env = parse_envelope((bundle / "statement.dsse.json").read_bytes())
    statement = json.loads(env.payload_bytes())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    names = {s["name"] for s in statement["subject"]}
    files = {p.relative_to(bundle).as_posix() for p in _files(bundle)}
    assert names == files - {"statement.dsse.json"}
    assert "chain/records.jsonl" in names
    assert "report.html" in names
    assert any(n.startswith("batches/kpi/gw-a/") and n.endswith(".lp.gz") for n in names)
    pred = statement["predicate"]
    assert pred["profile"] == PROFILE
    assert pred["window"]["start"].startswith("2026-10-29T02:00:00")
    for r in pred["results"]:
        if r["numerator"] is not None:
            assert isinstance(r["numerator"], int)
            # a number has its decimal; a yes/no finding has none
            assert isinstance(r["decimal"], str) != isinstance(r["value"], bool), r
    (head,) = pred["chains"]
    assert head["agent"] == "gw-a"
    assert head["lines"] > 0
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert "验收证据报告" in html
    assert "Acceptance evidence report" in html
    assert "<svg" in html
    assert "5G" in html


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


async def test_the_tar_gz_verifies_too(bundle: Path, keys: Keys, tmp_path: Path) -> None:
    archive = pack(bundle, tmp_path / "bundle.tar.gz")
    assert pack(bundle, tmp_path / "again.tar.gz").read_bytes() == archive.read_bytes()
    report = await verify_bundle(archive, keys.trust)
    assert report.ok, report.findings


async def test_the_same_history_in_influxdb_gives_the_same_bundle(
    influxd: LocalInfluxd, bundle: Path, keys: Keys, tmp_path: Path
) -> None:
    store = await new_influx_store(influxd)
    try:
        await sealed_backfill(store, keys.agent, "gw-a")
        out = tmp_path / "influx-bundle"
        inventory = load_scenario(SCENARIO).inventory()
        await build_bundle(store, PROFILE, WINDOW, inventory, keys.builder, out)
    finally:
        await store.close()
    report = await verify_bundle(out, keys.trust)
    assert report.ok, report.findings
    # the sealed lines and the results are the same whichever store held them (the
    # signatures differ: Ed25519 signing here is deterministic, but keys are per run
    # of the backfill only for the chain, and the builder's is the same)
    for p in (bundle / "batches").rglob("*.lp.gz"):
        assert (out / p.relative_to(bundle)).read_bytes() == p.read_bytes()
    ours = json.loads(parse_envelope((out / "statement.dsse.json").read_bytes()).payload_bytes())
    theirs = json.loads(
        parse_envelope((bundle / "statement.dsse.json").read_bytes()).payload_bytes()
    )
    assert ours["predicate"]["results"] == theirs["predicate"]["results"]


async def test_data_the_agents_never_sealed_is_caught(
    sealed_sqlite: Path, keys: Keys, tmp_path: Path
) -> None:
    """A store edited behind the agents' backs builds a bundle whose KPIs do not recompute."""
    db = tmp_path / "edited.db"
    shutil.copy(sealed_sqlite, db)
    store = SqliteStore(db)
    inventory = load_scenario(SCENARIO).inventory()
    try:
        wifi = [e for e in inventory.elements if e.link == "wifi"]
        t = WINDOW.start_ns + 3600 * 10**9
        # every Wi-Fi element claimed on 5G for the whole window: the 5G share goes up
        forged = [
            Point(
                "element_status",
                {"site": inventory.site, "element": e.id, "kind": e.kind, "link": "5g"},
                {"online": True},
                t + i * 60 * 10**9,
            )
            for e in wifi
            for i in range(8 * 60)
        ]
        await store.write(forged)
        await build_bundle(store, PROFILE, WINDOW, inventory, keys.builder, tmp_path / "b")
    finally:
        await store.close()
    report = await verify_bundle(tmp_path / "b", keys.trust)
    assert not report.ok
    assert "E_KPI_MISMATCH" in report.codes
    (f,) = [f for f in report.findings if f.code == "E_KPI_MISMATCH"]
    assert f.where.startswith("kpi fiveg_wireless_networking_rate")


async def test_a_window_past_the_last_seal_is_refused(sealed_sqlite: Path, keys: Keys) -> None:
    store = SqliteStore(sealed_sqlite)
    late = Window(start=WINDOW.start, end=WINDOW.end.replace(hour=23))
    try:
        with pytest.raises(BuildError, match="no sealed batch after the window's end"):
            await build_bundle(
                store, PROFILE, late, load_scenario(SCENARIO).inventory(), keys.builder,
                Path("/nonexistent/never-written"),
            )  # fmt: skip
    finally:
        await store.close()


async def test_a_store_without_seals_is_refused(tmp_path: Path, keys: Keys) -> None:
    store = SqliteStore(tmp_path / "plain.db")
    try:
        with pytest.raises(BuildError, match="no sealed KPI-stream batches"):
            await build_bundle(
                store, PROFILE, WINDOW, load_scenario(SCENARIO).inventory(), keys.builder,
                tmp_path / "b",
            )  # fmt: skip
    finally:
        await store.close()


async def test_bundle_from_the_agents_buffer_and_forwarder(tmp_path: Path, keys: Keys) -> None:
    """The agent's real path: accept → seal → forward (lines, pp_lines, pp_batch) → build."""
    site = "agent-site"
    inventory = Inventory(
        site=site,
        elements=tuple(
            DeclaredElement(id=f"e{i}", kind="machine", link="5g" if i < 3 else "wifi")
            for i in range(10)
        ),
    )
    store = SqliteStore(tmp_path / "store.db")
    buffer = Buffer(tmp_path / "buffer.db")
    forwarder = Forwarder(buffer, store, site, Metrics(agent="gw-a"))
    t0 = WINDOW.start_ns - 3600 * 10**9
    minute = 60 * 10**9
    try:
        for m in range(0, 10 * 60 + 1, 1):  # ten hours of status, one seal per half hour
            buffer.accept(
                Point(
                    "element_status",
                    {"site": site, "element": e.id, "kind": e.kind, "link": e.link},
                    {"online": True},
                    t0 + m * minute,
                )
                for e in inventory.elements
            )
            if m % 30 == 29:
                buffer.seal(keys.agent, "gw-a")
        buffer.seal(keys.agent, "gw-a")
        assert await forwarder.forward_available() > 0
        out = tmp_path / "bundle"
        result = await build_bundle(store, PROFILE, WINDOW, inventory, keys.builder, out)
        assert result.agents == ["gw-a"]
        direct = await evaluate(PROFILE, WINDOW, store, inventory)
    finally:
        buffer.close()
        await store.close()
    report = await verify_bundle(out, keys.trust)
    assert report.ok, report.findings
    assert report.evaluation is not None
    got = report.evaluation.result("fiveg_wireless_networking_rate")
    assert (got.numerator, got.denominator) == (3, 10)
    assert got.value == direct.result("fiveg_wireless_networking_rate").value


async def test_unsafe_archives_are_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    for name, kind in (("../evil", tarfile.REGTYPE), ("/abs", tarfile.REGTYPE),
                       ("link", tarfile.SYMTYPE)):  # fmt: skip
        path = tmp_path / "bad.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            data = b"x" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        with pytest.raises(ArchiveError):
            unpack(path, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


async def test_the_report_prints_to_pdf_with_chromium(bundle: Path, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("no Chromium installed (Debian package `chromium`): the PDF is optional")
    pdf = tmp_path / "report.pdf"
    await html_to_pdf(bundle / "report.html", pdf)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(data) > 10_000


async def test_cumulative_kpis_carry_the_history_before_the_window(
    tmp_path: Path, keys: Keys
) -> None:
    """Registrations count from the start of the stored history: the bundle carries that
    history too, so an honest bundle recomputes (and nothing before the window hides)."""
    scenario = load_scenario("identifier-node")
    store = SqliteStore(tmp_path / "id.db")
    day = 86400 * 10**9
    end = scenario.evaluation.end_ns
    window = Window.of_ns(end - day, end)
    try:
        await backfill(scenario, store, end - 2 * day, end,
                       sealer=Sealer(keys.agent, "gw-a", KPI_STREAM), batch_lines=500)  # fmt: skip
        out = tmp_path / "b"
        built = await build_bundle(
            store, "ningbo-identifier-node-platform", window, scenario.inventory(),
            keys.builder, out,
        )  # fmt: skip
    finally:
        await store.close()
    report = await verify_bundle(out, keys.trust)
    assert report.ok, report.findings
    assert report.evaluation is not None
    regs = report.evaluation.result("identifier_registrations")
    assert regs.numerator == 2 * 70_000  # both days, though the window holds one
    assert built.lines == report.lines


async def test_a_chain_that_begins_inside_the_window_is_flagged(
    sealed_sqlite: Path, keys: Keys, tmp_path: Path
) -> None:
    store = SqliteStore(sealed_sqlite)
    from_genesis = Window(start=WINDOW.start.replace(hour=0), end=WINDOW.end)
    try:
        out = tmp_path / "b"
        inventory = load_scenario(SCENARIO).inventory()
        await build_bundle(store, PROFILE, from_genesis, inventory, keys.builder, out)
    finally:
        await store.close()
    report = await verify_bundle(out, keys.trust, inventory=inventory)
    assert report.ok, report.findings
    assert [w.code for w in report.warnings] == ["W_CHAIN_STARTS_INSIDE"]


async def test_a_restarted_chain_keeps_the_old_one_and_the_bundle_declares_it(
    epoch_store: Path, epoch_bundle: Path, keys: Keys
) -> None:
    """gw-a's buffer was lost mid-window and a new chain begun (epoch 1): the old chain's
    rows are all still in the store (nothing overwritten), the bundle carries both
    chains and declares the change, and verify passes, saying what happened."""
    store = SqliteStore(epoch_store)
    try:
        rows = await store.read("pp_batch", 0, 1 << 62, where={"agent": "gw-a"})
    finally:
        await store.close()
    epochs = sorted({(p.tags.get("epoch", "0"), int(p.fields["seq"])) for p in rows})
    zero = [s for e, s in epochs if e == "0"]
    one = [s for e, s in epochs if e == "1"]
    assert zero == list(range(len(zero)))
    assert one == list(range(len(one)))
    assert len(rows) == len(zero) + len(one)  # seq 0.. of epoch 1 overwrote nothing
    predicate = json.loads(
        parse_envelope((epoch_bundle / "statement.dsse.json").read_bytes()).payload_bytes()
    )["predicate"]
    (change,) = predicate["epoch_changes"]
    assert (change["agent"], change["previous_epoch"], change["epoch"]) == ("gw-a", 0, 1)
    assert {(h["agent"], h.get("epoch")) for h in predicate["chains"]} == {
        ("gw-a", None), ("gw-a", 1)
    }  # fmt: skip
    assert any(p.parent.name == "epoch-1" for p in (epoch_bundle / "batches").rglob("*.lp.gz"))
    inventory = load_scenario(SCENARIO).inventory()
    report = await verify_bundle(epoch_bundle, keys.trust, inventory=inventory)
    assert report.ok, report.findings
    assert [w.code for w in report.warnings] == ["W_CHAIN_EPOCH"]
    assert "buffer was lost" in report.warnings[0].message
    assert report.evaluation is not None


async def test_every_batch_file_inflates_with_the_systems_gzip_to_its_lines(
    bundle: Path,
) -> None:
    """A batch file reuses its archive's deflate data (two gzip members: the lines, then
    the final LF); gzip(1), a reader we did not write, takes it as one text."""
    import gzip
    import subprocess

    batches = sorted((bundle / "batches").rglob("*.lp.gz"))
    assert batches
    for p in batches:
        run = subprocess.run(["gzip", "-dc", str(p)], capture_output=True, check=True)  # noqa: ASYNC221
        assert run.stdout == gzip.decompress(p.read_bytes())
        assert run.stdout.endswith(b"\n")
        assert b"\n\n" not in run.stdout


def _altered(data: str, how: str) -> str:
    import base64
    import zlib

    raw = base64.b64decode(data)
    return {
        "other lines": base64.b64encode(zlib.compress(b"m f=1.0 1")).decode(),
        "bytes after the stream": base64.b64encode(raw + b"\x00junk").decode(),
        "cut short": base64.b64encode(raw[: len(raw) // 2]).decode(),
        "not base64": data[:10] + "!" + data[11:],
    }[how]


@pytest.mark.parametrize(
    "how", ["other lines", "bytes after the stream", "cut short", "not base64"]
)
async def test_an_altered_archive_in_the_store_is_refused(
    sealed_sqlite: Path, keys: Keys, tmp_path: Path, how: str
) -> None:
    db = tmp_path / "altered.db"
    shutil.copy(sealed_sqlite, db)
    store = SqliteStore(db)
    out = tmp_path / "b"
    try:
        (row, *_) = [p for p in await store.read("pp_lines", 0, 1 << 62) if p.time_ns == 3]
        fields = {**row.fields, "data": _altered(str(row.fields["data"]), how)}
        await store.write([Point(row.measurement, row.tags, fields, row.time_ns)])
        with pytest.raises(BuildError, match=r"batch 3: .*(do not match|damaged)"):
            await build_bundle(
                store, PROFILE, WINDOW, load_scenario(SCENARIO).inventory(), keys.builder, out
            )
    finally:
        await store.close()
    assert not out.exists()  # no half-built bundle is left
