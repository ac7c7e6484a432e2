"""The tamper suite: every change to a bundle is rejected, each with its own code.

Two attackers. One edits files and cannot sign: any flipped byte breaks a digest or the
envelope. The other also holds the bundle signer's key — the factory itself — and
re-signs the statement after each edit, so only the agents' signed chains stand between
it and a forged result: rows, batches, records and times are edited beneath them.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings, strategies as st

from simulators import load_scenario
from telemetry.seal import BatchRecord
from tests.evidence_fixtures import SCENARIO, Keys
from verifier import CODES, VerifyReport, parse_envelope, sign_envelope, verify_bundle
from verifier.dsse import Signature

ENVELOPE = "statement.dsse.json"
RECORDS = "chain/records.jsonl"
# each example copies and verifies a bundle: a dozen per property keeps the suite short
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
FLIPS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


# --- helpers ---------------------------------------------------------------------------


def verify(folder: Path, keys: Keys) -> VerifyReport:
    return asyncio.run(verify_bundle(folder, keys.trust))


def copy_of(bundle: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="tamper-")) / "b"
    shutil.copytree(bundle, target)
    return target


def statement(folder: Path) -> dict[str, Any]:
    return json.loads(parse_envelope((folder / ENVELOPE).read_bytes()).payload_bytes())  # type: ignore[no-any-return]


def resign(folder: Path, keys: Keys, edit: Callable[[dict[str, Any]], None] | None = None) -> None:
    """What a signer-holding attacker does after editing files: new digests, new signature."""
    s = statement(folder)
    s["subject"] = [
        {"name": n, "digest": {"sha256": hashlib.sha256((folder / n).read_bytes()).hexdigest()}}
        for n in sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name != ENVELOPE
        )
    ]
    if edit is not None:
        edit(s["predicate"])
    (folder / ENVELOPE).write_bytes(sign_envelope(rfc8785.dumps(s), keys.builder).canonical())


def batch_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in (folder / "batches").rglob("*.lp.gz"))


def read_lines(folder: Path, name: str) -> list[bytes]:
    return gzip.decompress((folder / name).read_bytes()).split(b"\n")[:-1]


def write_lines(folder: Path, name: str, lines: list[bytes]) -> None:
    (folder / name).write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / RECORDS).read_bytes().splitlines() if x]


def write_records(folder: Path, rows: list[dict[str, Any]]) -> None:
    (folder / RECORDS).write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in rows))


def rejected(report: VerifyReport, code: str) -> None:
    assert code in CODES
    assert not report.ok
    assert code in report.codes, [f"{f.code} {f.where}: {f.message}" for f in report.findings]


def seq_of(name: str) -> int:
    return int(name.rsplit("/", 1)[1].split(".")[0])


# --- the file-editing attacker -----------------------------------------------------------


@FLIPS
@given(data=st.data())
def test_flipping_any_byte_of_any_file_is_rejected(bundle: Path, keys: Keys, data: Any) -> None:
    folder = copy_of(bundle)
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    name = data.draw(st.sampled_from(names), label="file")
    raw = bytearray((folder / name).read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="mask")
    old = raw[at]
    raw[at] ^= mask
    (folder / name).write_bytes(bytes(raw))
    report = verify(folder, keys)
    if report.ok:
        # the one edit that is no edit: the same base64 bytes in the other alphabet
        assert name == ENVELOPE
        assert {chr(old), chr(raw[at])} in ({"+", "-"}, {"/", "_"})
        return
    expected = (
        {"E_ENVELOPE_FORMAT", "E_ENVELOPE_SIG", "E_ENVELOPE_UNSIGNED"}
        if name == ENVELOPE
        else {"E_SUBJECT_DIGEST"}
    )
    assert report.codes & expected, report.findings


def test_a_missing_file_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    (folder / batch_files(folder)[0]).unlink()
    rejected(verify(folder, keys), "E_SUBJECT_MISSING")


def test_an_extra_file_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    (folder / "notes.txt").write_text("trust me")
    rejected(verify(folder, keys), "E_FILE_UNLISTED")


def test_a_removed_envelope_signature_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    env = parse_envelope((folder / ENVELOPE).read_bytes())
    (folder / ENVELOPE).write_bytes(env.model_copy(update={"signatures": []}).canonical())
    rejected(verify(folder, keys), "E_ENVELOPE_UNSIGNED")


def test_an_envelope_signature_by_another_key_is_rejected(bundle: Path, keys: Keys) -> None:
    """A valid signature — by a key the auditor does not trust as a bundle signer."""
    folder = copy_of(bundle)
    body = parse_envelope((folder / ENVELOPE).read_bytes()).payload_bytes()
    for signer in (keys.stranger, keys.agent):  # an agent key cannot sign bundles either
        (folder / ENVELOPE).write_bytes(sign_envelope(body, signer).canonical())
        rejected(verify(folder, keys), "E_ENVELOPE_SIG")


# --- the signer-holding attacker -----------------------------------------------------------


def test_resigning_alone_changes_nothing(bundle: Path, keys: Keys) -> None:
    """The control: the helpers themselves do not break a bundle."""
    folder = copy_of(bundle)
    resign(folder, keys)
    assert verify(folder, keys).ok


def _one_ulp_up(lines: list[bytes], data: Any) -> bool:
    """A value changed by one unit in the last place (a boolean flipped)."""
    i = data.draw(st.integers(0, len(lines) - 1), label="row")
    head, fields, t = lines[i].decode().rsplit(" ", 2)
    key, value = fields.split(",")[0].split("=", 1)
    if value.endswith("i"):
        value = f"{int(value[:-1]) + 1}i"
    elif value in ("true", "false"):
        value = "false" if value == "true" else "true"
    else:
        value = repr(math.nextafter(float(value), math.inf))
    rest = fields.split(",")[1:]
    lines[i] = " ".join([head, ",".join([f"{key}={value}", *rest]), t]).encode()
    return True


def _drop_row(lines: list[bytes], data: Any) -> bool:
    del lines[data.draw(st.integers(0, len(lines) - 1), label="row")]
    return True


def _insert_row(lines: list[bytes], data: Any) -> bool:
    row = data.draw(st.sampled_from(lines), label="copied row")
    lines.insert(data.draw(st.integers(0, len(lines)), label="at"), row)
    return True


def _swap_rows(lines: list[bytes], data: Any) -> bool:
    i = data.draw(st.integers(0, len(lines) - 2), label="row")
    j = data.draw(st.integers(i + 1, len(lines) - 1), label="other row")
    if lines[i] == lines[j]:
        return False
    lines[i], lines[j] = lines[j], lines[i]
    return True


def _shift_line_time(lines: list[bytes], data: Any) -> bool:
    i = data.draw(st.integers(0, len(lines) - 1), label="row")
    delta = data.draw(st.sampled_from([-60 * 10**9, -1, 1, 3600 * 10**9]), label="delta")
    head, t = lines[i].rsplit(b" ", 1)
    lines[i] = head + b" " + str(int(t) + delta).encode()
    return True


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(_one_ulp_up, "E_BATCH_ROOT", id="a-value-one-unit-in-the-last-place-up"),
        pytest.param(_drop_row, "E_BATCH_COUNT", id="a-dropped-row"),
        pytest.param(_insert_row, "E_BATCH_COUNT", id="an-inserted-row"),
        pytest.param(_swap_rows, "E_BATCH_ROOT", id="swapped-rows"),
        pytest.param(_shift_line_time, "E_BATCH_ROOT", id="an-edited-line-time"),
    ],
)
@SLOW
@given(data=st.data())
def test_an_edited_batch_line_is_rejected(
    bundle: Path, keys: Keys, data: Any, edit: Callable[[list[bytes], Any], bool], code: str
) -> None:
    """Rows of one batch edited beneath the agent's signed record: its count or its
    Merkle root no longer matches (`edit` says False when its draw changed nothing)."""
    folder = copy_of(bundle)
    name = data.draw(st.sampled_from(batch_files(folder)), label="batch")
    lines = read_lines(folder, name)
    if not edit(lines, data):
        return
    write_lines(folder, name, lines)
    resign(folder, keys)
    rejected(verify(folder, keys), code)


def test_a_dropped_batch_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    (folder / batch_files(folder)[1]).unlink()
    resign(folder, keys)
    rejected(verify(folder, keys), "E_BATCH_MISSING")


def test_a_batch_moved_onto_another_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    a, b = batch_files(folder)[:2]
    shutil.copy(folder / a, folder / b)
    resign(folder, keys)
    report = verify(folder, keys)
    assert report.codes & {"E_BATCH_COUNT", "E_BATCH_ROOT"}, report.findings
    assert not report.ok


def test_a_duplicated_batch_file_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    name = batch_files(folder)[-1]
    extra = name.replace(f"/{seq_of(name)}.", f"/{seq_of(name) + 1000}.")
    shutil.copy(folder / name, folder / extra)
    resign(folder, keys)
    rejected(verify(folder, keys), "E_BATCH_UNEXPECTED")


@given(data=st.data())
@SLOW
def test_a_dropped_record_is_rejected(bundle: Path, keys: Keys, data: Any) -> None:
    folder = copy_of(bundle)
    rows = records(folder)
    i = data.draw(st.integers(1, len(rows) - 2), label="record")
    del rows[i]
    write_records(folder, rows)
    resign(folder, keys)
    rejected(verify(folder, keys), "E_CHAIN_GAP")


def _reorder(rows: list[dict[str, Any]], keys: Keys) -> None:
    rows[2], rows[3] = rows[3], rows[2]


def _duplicate(rows: list[dict[str, Any]], keys: Keys) -> None:
    rows.insert(3, rows[2])


def _unsign(rows: list[dict[str, Any]], keys: Keys) -> None:
    rows[2]["sig"] = ""


def _sign_by_the_other_agent(rows: list[dict[str, Any]], keys: Keys) -> None:
    """A valid signature over the very record — by the other agent's key."""
    record = BatchRecord.model_validate(rows[2])
    sig = keys.other_agent.sign(record.canonical())
    rows[2]["sig"] = base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def _one_ns_later(field: str) -> Callable[[list[dict[str, Any]], Keys], None]:
    def edit(rows: list[dict[str, Any]], keys: Keys) -> None:
        rows[2][field] += 1

    return edit


def _break_prev(rows: list[dict[str, Any]], keys: Keys) -> None:
    """Re-signed by the agent's own key (a stolen key): the link still breaks."""
    record = BatchRecord.model_validate(rows[3]).model_copy(update={"prev": "ab" * 32})
    rows[3] = _agent_resigned(keys, record)


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        pytest.param(_reorder, "E_CHAIN_ORDER", id="reordered"),
        pytest.param(_duplicate, "E_CHAIN_DUPLICATE", id="duplicated"),
        pytest.param(_unsign, "E_RECORD_UNSIGNED", id="removed-signature"),
        pytest.param(_sign_by_the_other_agent, "E_RECORD_SIG", id="signed-by-another-key"),
        pytest.param(_one_ns_later("first_ns"), "E_RECORD_SIG", id="edited-first_ns"),
        pytest.param(_one_ns_later("last_ns"), "E_RECORD_SIG", id="edited-last_ns"),
        pytest.param(_break_prev, "E_CHAIN_PREV", id="broken-prev-link"),
    ],
)
def test_edited_records_are_rejected(
    bundle: Path, keys: Keys, edit: Callable[[list[dict[str, Any]], Keys], None], code: str
) -> None:
    folder = copy_of(bundle)
    rows = records(folder)
    edit(rows, keys)
    write_records(folder, rows)
    resign(folder, keys)
    rejected(verify(folder, keys), code)


def test_a_truncated_tail_is_rejected(bundle: Path, keys: Keys) -> None:
    """Drop the checkpoint and the last batch, and make the statement agree."""
    folder = copy_of(bundle)
    rows = records(folder)
    cut = rows[:-2]
    write_records(folder, cut)
    dropped = rows[-2]["seq"]
    for name in batch_files(folder):
        if seq_of(name) >= dropped:
            (folder / name).unlink()
    last = BatchRecord.model_validate(cut[-1])

    def agree(pred: dict[str, Any]) -> None:
        pred["chains"][0].update(last_seq=last.seq, head=last.digest())

    resign(folder, keys, agree)
    rejected(verify(folder, keys), "E_CHAIN_TRUNCATED")


def test_a_dropped_anchor_is_rejected(bundle: Path, keys: Keys) -> None:
    """Without the record before the window, batches at its start could be hidden."""
    folder = copy_of(bundle)
    rows = records(folder)
    assert rows[0]["seq"] > 0  # the history starts before the window: an anchor exists
    write_records(folder, rows[1:])
    resign(folder, keys, lambda pred: pred["chains"][0].update(first_seq=rows[1]["seq"]))
    rejected(verify(folder, keys), "E_WINDOW_START")


def test_another_agents_valid_chain_is_rejected(
    bundle: Path, keys: Keys, other_agent_bundle: Path
) -> None:
    """This statement, paired with the records and batches of another trusted agent —
    first as they are, then with the statement's chain heads rewritten to match."""
    folder = copy_of(bundle)
    shutil.rmtree(folder / "batches")
    shutil.copytree(other_agent_bundle / "batches", folder / "batches")
    shutil.copy(other_agent_bundle / RECORDS, folder / RECORDS)
    resign(folder, keys)
    rejected(verify(folder, keys), "E_CHAIN_HEAD")
    # the complete swap: every check of the chain itself passes (gw-b is trusted and its
    # chain is whole); what stops it is that gw-a is pinned to this site in the trust file
    chains = statement(other_agent_bundle)["predicate"]["chains"]
    resign(folder, keys, lambda pred: pred.__setitem__("chains", chains))
    report = verify(folder, keys)
    rejected(report, "E_CHAIN_MISSING")
    assert report.codes == {"E_CHAIN_MISSING"}


def test_a_dropped_agent_is_rejected(bundle: Path, keys: Keys) -> None:
    """Leave an agent out altogether: its records, its batches and its chain head."""
    folder = copy_of(bundle)
    shutil.rmtree(folder / "batches")
    (folder / RECORDS).write_bytes(b"")
    resign(folder, keys, lambda pred: pred.__setitem__("chains", []))
    report = verify(folder, keys)
    rejected(report, "E_CHAIN_MISSING")


def test_an_edited_result_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)

    def inflate(pred: dict[str, Any]) -> None:
        for r in pred["results"]:
            if r["id"] == "fiveg_wireless_networking_rate":
                r["numerator"] += 1

    resign(folder, keys, inflate)
    rejected(verify(folder, keys), "E_KPI_MISMATCH")


def test_an_edited_window_is_rejected(bundle: Path, keys: Keys) -> None:
    """The window moved one hour earlier: the anchor record no longer precedes it, or
    the recomputed KPIs differ from the signed ones."""
    folder = copy_of(bundle)

    def earlier(pred: dict[str, Any]) -> None:
        pred["window"]["start"] = pred["window"]["start"].replace("T02:", "T01:")

    resign(folder, keys, earlier)
    report = verify(folder, keys)
    assert not report.ok
    assert report.codes & {"E_WINDOW_START", "E_KPI_MISMATCH"}, report.findings


def test_an_untrusted_agent_is_rejected(bundle: Path, keys: Keys, tmp_path: Path) -> None:
    from verifier import load_trust

    only_builder = tmp_path / "keys.toml"
    text = keys.trust_file.read_text()
    only_builder.write_text(text.split("\n\n")[0] + "\n")
    report = asyncio.run(verify_bundle(bundle, load_trust(only_builder)))
    rejected(report, "E_AGENT_UNTRUSTED")


# --- what still verifies ----------------------------------------------------------------


def test_a_url_safe_base64_reencoding_still_verifies(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    env = parse_envelope((folder / ENVELOPE).read_bytes())

    def url(text: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(text)).rstrip(b"=").decode()

    reencoded = env.model_copy(
        update={
            "payload": url(env.payload),
            "signatures": [Signature(keyid=s.keyid, sig=url(s.sig)) for s in env.signatures],
        }
    )
    assert reencoded.payload != env.payload
    (folder / ENVELOPE).write_bytes(reencoded.canonical())
    report = verify(folder, keys)
    assert report.ok, report.findings


def test_an_unknown_extra_predicate_field_still_verifies(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)

    def extend(pred: dict[str, Any]) -> None:
        pred["x_site_contact"] = {"name": "张工", "phone": "0574-0000"}

    resign(folder, keys, extend)
    report = verify(folder, keys)
    assert report.ok, report.findings


def _agent_resigned(keys: Keys, record: BatchRecord) -> dict[str, Any]:
    sig = keys.agent.sign(record.canonical())
    signed = record.model_copy(update={"sig": base64.urlsafe_b64encode(sig).rstrip(b"=").decode()})
    return json.loads(signed.model_dump_json())  # type: ignore[no-any-return]


def _rechain(keys: Keys, rows: list[dict[str, Any]], i: int, **change: Any) -> None:
    """Edit record i and re-sign it and every later record with the agent's own key (a
    stolen key), relinking `prev`: only the chain's own rules can then object."""
    prev = BatchRecord.model_validate(rows[i - 1]).digest() if i else None
    for k in range(i, len(rows)):
        r = BatchRecord.model_validate(rows[k])
        update = dict(change) if k == i else {}
        if prev is not None:
            update["prev"] = prev
        rows[k] = _agent_resigned(keys, r.model_copy(update=update))
        prev = BatchRecord.model_validate(rows[k]).digest()


def test_times_going_backwards_are_rejected(bundle: Path, keys: Keys) -> None:
    """Even with the agent's own key: a high-water mark that goes back, while each
    record keeps first_ns <= last_ns."""
    folder = copy_of(bundle)
    rows = records(folder)
    i = 3
    back = BatchRecord.model_validate(rows[i - 1]).last_ns - 1
    _rechain(keys, rows, i, first_ns=back - 1, last_ns=back)
    write_records(folder, rows)
    resign(folder, keys, _new_heads(rows))
    report = verify(folder, keys)
    rejected(report, "E_CHAIN_TIME")
    assert any("goes back" in f.message for f in report.findings if f.code == "E_CHAIN_TIME")


def test_a_record_whose_times_do_not_fit_its_lines_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    rows = records(folder)
    name = batch_files(folder)[0]
    i = next(k for k, row in enumerate(rows) if row["seq"] == seq_of(name))
    r = BatchRecord.model_validate(rows[i])
    rows[i] = _agent_resigned(keys, r.model_copy(update={"first_ns": r.first_ns - 1}))
    rows[i + 1]["prev"] = BatchRecord.model_validate(rows[i]).digest()
    rows[i + 1] = _agent_resigned(keys, BatchRecord.model_validate(rows[i + 1]))
    write_records(folder, rows)
    resign(folder, keys, _new_heads(rows))
    rejected(verify(folder, keys), "E_BATCH_TIME")


def _new_heads(rows: list[dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    def edit(pred: dict[str, Any]) -> None:
        pred["chains"][0]["head"] = BatchRecord.model_validate(rows[-1]).digest()

    return edit


def test_a_garbled_record_line_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    (folder / RECORDS).write_bytes((folder / RECORDS).read_bytes() + b'{"seq": "x"}\n')
    resign(folder, keys)
    rejected(verify(folder, keys), "E_RECORD_FORMAT")


def test_a_batch_file_that_is_not_gzip_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    name = batch_files(folder)[0]
    (folder / name).write_bytes(gzip.decompress((folder / name).read_bytes()))
    resign(folder, keys)
    rejected(verify(folder, keys), "E_BATCH_FORMAT")


def test_a_statement_of_another_type_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    s = statement(folder)
    s["predicateType"] = "https://slsa.dev/provenance/v1"
    (folder / ENVELOPE).write_bytes(sign_envelope(rfc8785.dumps(s), keys.builder).canonical())
    rejected(verify(folder, keys), "E_STATEMENT_FORMAT")


def test_a_statement_made_with_another_catalog_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    resign(folder, keys, lambda pred: pred.__setitem__("catalog_digest", "0" * 64))
    rejected(verify(folder, keys), "E_CATALOG_DIGEST")


def test_a_statement_of_an_unknown_profile_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    resign(folder, keys, lambda pred: pred.__setitem__("profile", "no-such-profile"))
    rejected(verify(folder, keys), "E_PROFILE_UNKNOWN")


def test_an_edited_file_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    (folder / "report.html").write_text("<p>all KPIs pass</p>", encoding="utf-8")
    rejected(verify(folder, keys), "E_SUBJECT_DIGEST")


def test_a_result_left_out_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    resign(folder, keys, lambda pred: pred["results"].pop(0))
    rejected(verify(folder, keys), "E_KPI_MISSING")


def test_not_a_bundle(tmp_path: Path, keys: Keys) -> None:
    rejected(verify(tmp_path / "absent", keys), "E_BUNDLE_LAYOUT")
    rejected(verify(tmp_path, keys), "E_BUNDLE_LAYOUT")


def test_an_archive_escaping_its_folder_is_rejected(tmp_path: Path, keys: Keys) -> None:
    import io
    import tarfile

    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("../statement.dsse.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    rejected(verify(path, keys), "E_ARCHIVE_UNSAFE")


# --- the statement's own content --------------------------------------------------------


def _adopt(folder: Path, keys: Keys, edit: Callable[[dict[str, Any]], None]) -> VerifyReport:
    """Edit the inputs, then sign whatever the verifier recomputes from them: the
    strongest signer-holding attacker, whose results always "recompute"."""
    resign(folder, keys, edit)
    first = verify(folder, keys)
    assert first.evaluation is not None, first.findings
    results = [r.model_dump(mode="json", exclude={"queries"}) for r in first.evaluation.results]
    verdict = first.evaluation.verdict

    def adopt(pred: dict[str, Any]) -> None:
        pred["results"], pred["verdict"] = results, verdict

    resign(folder, keys, adopt)
    return verify(folder, keys)


def _wifi_free(pred: dict[str, Any]) -> None:
    inv = pred["inventory"]
    inv["elements"] = [e for e in inv["elements"] if e["link"] != "wifi"]


def test_a_shrunk_inventory_is_caught_by_the_filed_one(bundle: Path, keys: Keys) -> None:
    """Drop every Wi-Fi element from the inventory and sign the higher 5G share it gives."""
    folder = copy_of(bundle)
    report = _adopt(folder, keys, _wifi_free)
    # unpinned, the bundle is consistent — and the verifier says what it cannot prove
    assert report.ok
    warned = {w.code for w in report.warnings}
    assert {"W_INVENTORY_NOT_PINNED", "W_UNDECLARED_ELEMENTS"} <= warned
    filed = load_scenario(SCENARIO).inventory()
    pinned = asyncio.run(verify_bundle(folder, keys.trust, inventory=filed))
    rejected(pinned, "E_INVENTORY_MISMATCH")


def test_changed_parameters_are_flagged(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    report = _adopt(folder, keys, lambda pred: pred["params"].update(min_online_fraction="0"))
    assert "W_PARAMS_NOT_DEFAULT" in {w.code for w in report.warnings}


def test_the_honest_bundle_warns_only_that_its_inventory_is_not_pinned(
    bundle: Path, keys: Keys
) -> None:
    report = verify(bundle, keys)
    assert [w.code for w in report.warnings] == ["W_INVENTORY_NOT_PINNED"]
    filed = load_scenario(SCENARIO).inventory()
    pinned = asyncio.run(verify_bundle(bundle, keys.trust, inventory=filed))
    assert pinned.ok
    assert pinned.warnings == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("verdict", "fail"), ("threshold_text", ">= 2 %"), ("decimal", "0.5"), ("notes", [])],
)
def test_any_signed_result_field_must_recompute(
    bundle: Path, keys: Keys, field: str, value: Any
) -> None:
    folder = copy_of(bundle)

    def forge(pred: dict[str, Any]) -> None:
        for r in pred["results"]:
            if r["id"] == "fiveg_wireless_networking_rate":
                if field == "notes":
                    r["notes"] = ["forged"]
                else:
                    r[field] = value

    resign(folder, keys, forge)
    rejected(verify(folder, keys), "E_KPI_MISMATCH")


def test_the_overall_verdict_must_recompute(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    resign(folder, keys, lambda pred: pred.__setitem__("verdict", "pass"))
    report = verify(folder, keys)
    rejected(report, "E_KPI_MISMATCH")
    assert any(f.where == "predicate.verdict" for f in report.findings)


def test_a_kpi_listed_twice_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)

    def twice(pred: dict[str, Any]) -> None:
        forged = dict(pred["results"][1], numerator=41)
        pred["results"].insert(0, forged)

    resign(folder, keys, twice)
    rejected(verify(folder, keys), "E_STATEMENT_FORMAT")


@pytest.mark.parametrize(
    "envelope",
    [
        b'{"payload":"e30=","payload":"W10=","payloadType":"x","signatures":[]}',
        b'{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[],"x":1}',
        b"[" * 100_000,
        b"not json",
    ],
)
def test_a_malformed_envelope_is_rejected(bundle: Path, keys: Keys, envelope: bytes) -> None:
    folder = copy_of(bundle)
    (folder / ENVELOPE).write_bytes(envelope)
    rejected(verify(folder, keys), "E_ENVELOPE_FORMAT")


def test_a_statement_not_in_jcs_is_rejected(bundle: Path, keys: Keys) -> None:
    folder = copy_of(bundle)
    body = json.dumps(statement(folder), indent=1).encode()
    (folder / ENVELOPE).write_bytes(sign_envelope(body, keys.builder).canonical())
    rejected(verify(folder, keys), "E_STATEMENT_FORMAT")


@pytest.mark.parametrize(
    "edit",
    [
        lambda pred: pred["window"].update(start="yesterday"),
        lambda pred: pred["window"].update(start="2026-10-29T02:00:00"),  # no zone
        lambda pred: pred["window"].update(end=pred["window"]["start"]),
        lambda pred: pred["params"].update(min_online_fraction="half"),
        lambda pred: pred.__setitem__("site", "elsewhere"),
    ],
)
def test_unusable_inputs_are_rejected_not_crashed_on(
    bundle: Path, keys: Keys, edit: Callable[[dict[str, Any]], None]
) -> None:
    folder = copy_of(bundle)
    resign(folder, keys, edit)
    rejected(verify(folder, keys), "E_STATEMENT_FORMAT")


def test_damaged_or_hostile_archives_are_refused(bundle: Path, keys: Keys, tmp_path: Path) -> None:
    import io
    import tarfile

    from verifier import pack

    whole = pack(bundle, tmp_path / "b.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    rejected(verify(tmp_path / "cut.tar.gz", keys), "E_BUNDLE_LAYOUT")
    (tmp_path / "plain.txt").write_text("not an archive")
    rejected(verify(tmp_path / "plain.txt", keys), "E_BUNDLE_LAYOUT")
    for names in (["a", "a/b"], ["x", "x"]):
        path = tmp_path / "clash.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for n in names:
                info = tarfile.TarInfo(n)
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
        report = verify(path, keys)
        assert not report.ok
        assert report.codes & {"E_ARCHIVE_UNSAFE", "E_BUNDLE_LAYOUT"}, report.findings


def _tar_gz(path: Path, members: list[tuple[str, bytes]], *, level: int = 6) -> Path:
    import io
    import tarfile

    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _limited(path: Path, keys: Keys, **limits: Any) -> VerifyReport:
    from verifier import ArchiveLimits

    return asyncio.run(verify_bundle(path, keys.trust, limits=ArchiveLimits(**limits)))


def test_a_member_larger_than_the_limit_is_refused_from_its_header(
    tmp_path: Path, keys: Keys
) -> None:
    """A header that declares 2 GiB is refused at the header: not a byte of it is
    inflated (the archive holds no data for it at all)."""
    import tarfile

    info = tarfile.TarInfo("batches/kpi/gw-a/0.lp.gz")
    info.size = 2 << 30
    path = tmp_path / "claims-2GiB.tar.gz"
    path.write_bytes(gzip.compress(info.tobuf(tarfile.PAX_FORMAT)))
    rejected(verify(path, keys), "E_ARCHIVE_MEMBER_SIZE")


def test_too_many_members_are_refused(tmp_path: Path, keys: Keys) -> None:
    path = _tar_gz(tmp_path / "many.tar.gz", [(f"f/{i}", b"") for i in range(101)])
    rejected(_limited(path, keys, max_members=100), "E_ARCHIVE_MEMBERS")
    assert _limited(path, keys, max_members=101).codes == {"E_BUNDLE_LAYOUT"}  # no statement


def test_more_bytes_than_the_limit_are_refused(tmp_path: Path, keys: Keys) -> None:
    import os

    path = _tar_gz(
        tmp_path / "big.tar.gz", [("a", os.urandom(600_000)), ("b", os.urandom(600_000))]
    )
    rejected(_limited(path, keys, max_total_bytes=1_000_000), "E_ARCHIVE_SIZE")


def test_a_compression_bomb_is_refused_by_its_ratio(tmp_path: Path, keys: Keys) -> None:
    path = _tar_gz(tmp_path / "zeros.tar.gz", [("batches/x.lp.gz", bytes(8 << 20))], level=9)
    rejected(_limited(path, keys, ratio_after=1 << 20), "E_ARCHIVE_RATIO")


def test_an_oversized_extension_header_is_refused(tmp_path: Path, keys: Keys) -> None:
    import io
    import tarfile

    path = tmp_path / "pax.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a")
        info.pax_headers = {"comment": "x" * (2 << 20)}
        tar.addfile(info, io.BytesIO(b""))
    rejected(verify(path, keys), "E_ARCHIVE_UNSAFE")


def test_the_statement_is_checked_before_any_batch_is_inflated(
    bundle: Path, keys: Keys, tmp_path: Path
) -> None:
    """A forged statement first, then a member the limits would refuse: the report names
    only the statement, so unpacking stopped before the second member."""
    import tarfile

    forged = json.loads((bundle / ENVELOPE).read_bytes())
    forged["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    head = tarfile.TarInfo(ENVELOPE)
    data = json.dumps(forged).encode()
    head.size = len(data)
    bomb = tarfile.TarInfo("batches/kpi/gw-a/0.lp.gz")
    bomb.size = 2 << 30
    blob = head.tobuf() + data + bytes(-len(data) % 512) + bomb.tobuf()
    path = tmp_path / "forged.tar.gz"
    path.write_bytes(gzip.compress(blob))
    report = verify(path, keys)
    rejected(report, "E_ENVELOPE_SIG")
    assert report.codes == {"E_ENVELOPE_SIG"}


def test_a_bundle_repacked_by_ordinary_tar_verifies(
    bundle: Path, keys: Keys, tmp_path: Path
) -> None:
    """`tar -czf b.tar.gz -C bundle .` writes `.` and `./name` members: an honest bundle."""
    import subprocess

    for flags in (["-czf"], ["-cJf"], ["-cf"]):
        path = tmp_path / f"repacked{flags[0]}"
        subprocess.run(["tar", *flags, str(path), "-C", str(bundle), "."], check=True)
        report = verify(path, keys)
        assert report.ok, report.findings
    bad = _tar_gz(tmp_path / "up.tar.gz", [("./../x", b"1")])
    rejected(verify(bad, keys), "E_ARCHIVE_UNSAFE")


@pytest.mark.parametrize(
    "line",
    [
        # a repeated key: the first `seq` would be hidden behind the second
        lambda r: json.dumps(r)[:-1] + ', "seq": 0}',
        lambda r: json.dumps({**r, "note": "unknown"}),
        lambda r: json.dumps({**r, "seq": str(r["seq"])}),  # no coercion from text
    ],
    ids=["duplicate-key", "unknown-field", "string-seq"],
)
def test_records_are_parsed_as_strictly_as_the_statement(
    bundle: Path, keys: Keys, line: Callable[[dict[str, Any]], str]
) -> None:
    folder = copy_of(bundle)
    rows = [json.loads(x) for x in (folder / RECORDS).read_text().splitlines()]
    rows_text = [json.dumps(r) for r in rows]
    rows_text[-1] = line(rows[-1])
    (folder / RECORDS).write_text("\n".join(rows_text) + "\n")
    resign(folder, keys)
    rejected(verify(folder, keys), "E_RECORD_FORMAT")


PAX_KEYS = ["GNU.sparse.map", "GNU.sparse.size", "GNU.sparse.major", "GNU.sparse.minor",
            "GNU.sparse.name", "GNU.sparse.numblocks", "GNU.sparse.offset", "GNU.sparse.numbytes",
            "size", "path", "linkpath", "mtime", "uid", "hdrcharset", "comment"]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pax=st.dictionaries(st.sampled_from(PAX_KEYS), st.text(max_size=30), max_size=5),
    tail=st.binary(max_size=600),
    compress=st.booleans(),
)
def test_any_archive_is_refused_with_a_code_or_unpacked(
    pax: dict[str, str], tail: bytes, compress: bool
) -> None:
    """Any pax header values and any trailing bytes: unpacking ends in an `ArchiveError`
    with a known code, or succeeds — never another exception."""
    import tarfile

    from verifier import ArchiveError, unpack

    info = tarfile.TarInfo("m")
    info.size = 1
    info.pax_headers = pax
    try:
        head = info.tobuf(tarfile.PAX_FORMAT)
    except (ValueError, UnicodeError):
        head = b""
    blob = head + b"x" + bytes(511) + tail
    tmp = Path(tempfile.mkdtemp(prefix="fuzz-"))
    archive = tmp / "a.tar.gz"
    archive.write_bytes(gzip.compress(blob) if compress else blob)
    code = None
    try:
        unpack(archive, tmp / "out")
    except ArchiveError as e:
        code = e.code
    finally:
        shutil.rmtree(tmp)
    assert code is None or code in CODES


def test_every_error_code_is_exercised() -> None:
    """Each stable code is provoked and expected by a test of this suite or of
    test_bundle.py — as `rejected(report, CODE)`, `assert CODE in report.codes` or the
    code of a `pytest.param(edit, CODE, id=...)` case."""
    text = Path(__file__).read_text(encoding="utf-8")
    text += (Path(__file__).parent / "test_bundle.py").read_text(encoding="utf-8")
    provoked = set(re.findall(r'rejected\([^()]*(?:\([^()]*\))?[^()]*"(E_[A-Z_]+)"\)', text))
    provoked |= set(re.findall(r'assert "(E_[A-Z_]+)" in report\.codes', text))
    provoked |= set(re.findall(r'pytest\.param\(\w+(?:\("\w+"\))?, "(E_[A-Z_]+)", id=', text))
    assert [c for c in CODES if c not in provoked] == []


# --- chain epochs ------------------------------------------------------------------------


def test_an_undeclared_epoch_change_is_rejected(epoch_bundle: Path, keys: Keys) -> None:
    """A signer-holding builder drops the declaration of gw-a's restarted chain: the two
    chains of one agent in the range are refused."""
    folder = copy_of(epoch_bundle)
    resign(folder, keys, lambda p: p.pop("epoch_changes"))
    rejected(verify(folder, keys), "E_CHAIN_EPOCH")


def test_a_new_epoch_alone_cannot_hide_the_restart(epoch_bundle: Path, keys: Keys) -> None:
    """The builder leaves the old chain out and keeps only epoch 1, which begins inside
    the range: refused, since a later epoch says an earlier chain existed."""
    folder = copy_of(epoch_bundle)
    rows = records(folder)
    write_records(folder, [r for r in rows if r.get("epoch")])
    for name in batch_files(folder):
        if "/epoch-1/" not in name:
            (folder / name).unlink()

    def drop(p: dict[str, Any]) -> None:
        p.pop("epoch_changes")
        p["chains"] = [h for h in p["chains"] if h.get("epoch")]

    resign(folder, keys, drop)
    rejected(verify(folder, keys), "E_CHAIN_EPOCH")


def test_an_old_chain_cut_short_needs_a_real_later_epoch(epoch_bundle: Path, keys: Keys) -> None:
    """Declaring the old chain ended does not excuse a missing tail when the records of
    the later epoch are not the agent's: the forged records fail their signature."""
    folder = copy_of(epoch_bundle)
    rows = records(folder)
    for r in rows:
        if r.get("epoch"):
            r["root"] = "00" * 32
    write_records(folder, rows)
    resign(folder, keys)
    report = verify(folder, keys)
    rejected(report, "E_RECORD_SIG")
