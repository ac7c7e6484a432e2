"""The web service under hostile input, as an attacker on the plant network sends it: a
real `pilotproof serve` process, raw sockets for what a polite client would not send.

Bounds stated here (and in docs/web.md):
* an unauthenticated or wrong-role request is answered before its body is read: the
  bytes that get out are what the socket buffers hold (< 32 MiB of a 1 GiB body), and the
  spool folder stays empty;
* an authenticated body is cut off at its route's limit (8 MiB here): the spool folder
  never holds more than the limit and its multipart envelope;
* archive bombs are refused with their own codes by a worker process, whose peak RSS
  stays under 512 MiB, while `/api/health` keeps answering; the temp folder then holds at
  most the upload and the 64 MiB a bomb may inflate before the ratio check starts.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.evidence_fixtures import SCENARIO, WINDOW, Keys
from tests.web.hostile import (
    PROFILE,
    RawAnswer,
    Served,
    Watch,
    chunked,
    many_members,
    multipart,
    raw_request,
    repack_with_tar,
    serve,
    write_key,
    zero_member_bomb,
    zeros,
)

GiB = 1 << 30
MiB = 1 << 20
LIMIT = 8 * MiB
#: what a refused sender can push into the kernel's socket buffers before it notices
SOCKET_SLACK = 32 * MiB
#: inflated bytes before the compression-ratio check starts (ArchiveLimits.ratio_after)
RATIO_AFTER = 64 * MiB


@pytest.fixture(scope="module")
def served(
    keys: Keys, sealed_sqlite: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("hostile")
    shutil.copy(sealed_sqlite, tmp / "store.db")
    key = write_key(keys.builder, tmp / "builder.pem")
    with serve(tmp, tmp / "store.db", key, keys.trust_file, SCENARIO,
               "--max-upload-mib", str(LIMIT >> 20), "--keep-bundles", "2") as s:  # fmt: skip
        yield s


def declared_gigabyte(served: Served, path: str, headers: dict[str, str]) -> RawAnswer:
    """POST that declares a gigabyte: each refusal must come before the body is read."""
    return raw_request(
        served.port, "POST", path, {**headers, "Content-Length": str(GiB)}, zeros(GiB)
    )


def window_params() -> dict[str, str]:
    return {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}


# --- before authentication ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/verify", "/api/evidence", "/api/tokens", "/api/nowhere"])
def test_an_anonymous_gigabyte_is_refused_before_it_is_read(served: Served, path: str) -> None:
    with Watch(served) as watch:
        kind = "multipart/form-data; boundary=pp-boundary" if path == "/api/verify" else (
            "application/json")  # fmt: skip
        answer = declared_gigabyte(served, path, {"Content-Type": kind})
    assert answer.status == 401, answer.head
    assert answer.sent < SOCKET_SLACK
    assert watch.spooled_max == 0


def test_an_anonymous_chunked_upload_is_refused_before_it_is_read(served: Served) -> None:
    with Watch(served) as watch:
        answer = raw_request(
            served.port, "POST", "/api/verify",
            {"Content-Type": "multipart/form-data; boundary=pp-boundary",
             "Transfer-Encoding": "chunked"},
            chunked(multipart(zeros(GiB))),
        )  # fmt: skip
    assert answer.status == 401, answer.head
    assert answer.sent < SOCKET_SLACK
    assert watch.spooled_max == 0


def test_a_revoked_or_made_up_token_is_refused_before_the_body(served: Served) -> None:
    for token in ("pp_made-up", "", "Basic abc"):
        auth = f"Bearer {token}" if "Basic" not in token else token
        answer = declared_gigabyte(served, "/api/evidence", {"Authorization": auth})
        assert answer.status == 401, (token, answer.head)
        assert answer.sent < SOCKET_SLACK


def test_a_role_that_may_not_upload_is_refused_before_the_body(served: Served) -> None:
    answer = declared_gigabyte(served, "/api/verify", served.auth("operator"))
    assert answer.status == 403, answer.head
    assert answer.sent < SOCKET_SLACK


# --- past the limit -----------------------------------------------------------------------


def test_a_declared_body_over_the_limit_is_refused_at_once(served: Served) -> None:
    answer = declared_gigabyte(
        served,
        "/api/verify",
        {**served.auth("auditor"), "Content-Type": "multipart/form-data; boundary=pp-boundary"},
    )
    assert answer.status == 413, answer.head
    assert answer.sent < SOCKET_SLACK


def test_a_streamed_body_is_cut_off_when_it_passes_the_limit(served: Served) -> None:
    with Watch(served) as watch:
        answer = raw_request(
            served.port, "POST", "/api/verify",
            {**served.auth("auditor"),
             "Content-Type": "multipart/form-data; boundary=pp-boundary",
             "Transfer-Encoding": "chunked"},
            chunked(multipart(zeros(GiB))),
        )  # fmt: skip
    assert answer.status == 413, answer.head
    assert answer.sent < LIMIT + SOCKET_SLACK
    assert watch.spooled_max <= LIMIT + MiB


def test_a_json_body_over_its_limit_is_refused(served: Served) -> None:
    big = json.dumps({"name": "x" * (64 << 10), "role": "admin"})
    r = httpx.post(f"{served.base}/api/tokens", content=big, headers=served.auth("admin"))
    assert r.status_code == 413
    assert "limit" in r.json()["detail"]
    # a body lying about its length is counted as it arrives
    answer = raw_request(
        served.port, "POST", "/api/tokens",
        {**served.auth("admin"), "Content-Type": "application/json",
         "Transfer-Encoding": "chunked"}, chunked(zeros(4 * MiB, 64 << 10)),
    )  # fmt: skip
    assert answer.status == 413, answer.head


def test_a_body_where_none_belongs_is_refused(served: Served) -> None:
    r = httpx.request(
        "GET", f"{served.base}/api/profiles", content=b"x" * 1000, headers=served.auth("auditor")
    )
    assert r.status_code == 413


def test_a_malformed_length_is_a_bad_request(served: Served) -> None:
    answer = raw_request(
        served.port, "POST", "/api/evidence",
        {**served.auth("operator"), "Content-Length": "12abc"}, iter([b"{}"]),
    )  # fmt: skip
    assert answer.status == 400, answer.head


# --- archive bombs, with a token ---------------------------------------------------------


def _upload(
    served: Served, data: bytes, name: str = "b.tar.gz", role: str = "auditor"
) -> httpx.Response:
    return httpx.post(
        f"{served.base}/api/verify", files={"bundle": (name, data)},
        headers=served.auth(role), timeout=300,
    )  # fmt: skip


def _codes(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["ok"] is False
    return {f["code"] for c in report["checks"] for f in c["findings"]}


@pytest.mark.parametrize(
    ("bomb", "code"),
    [
        (lambda: zero_member_bomb(2 * GiB), "E_ARCHIVE_MEMBER_SIZE"),  # 2 MB → 2 GiB
        (lambda: zero_member_bomb(900 * MiB), "E_ARCHIVE_RATIO"),  # under the member cap
        (lambda: many_members(100_001), "E_ARCHIVE_MEMBERS"),  # ~500 KB
    ],
    ids=["one-2GiB-member", "900MiB-of-zeros", "100001-members"],
)
def test_archive_bombs_are_refused_in_a_worker_while_health_answers(
    served: Served, bomb: object, code: str
) -> None:
    data = bomb()  # type: ignore[operator]
    assert len(data) < LIMIT
    with Watch(served) as watch:
        r = _upload(served, data)
    assert code in _codes(r), r.text
    assert watch.health
    assert all(status == 200 for _, status in watch.health)
    assert watch.spooled_max <= LIMIT + MiB + RATIO_AFTER
    peaks = served.peak_rss_mib()
    assert max(peaks.values()) < 512, peaks


def test_a_health_probe_answers_while_a_bomb_is_unpacked(served: Served) -> None:
    """The bomb takes its worker a while; `/api/health` answers during it, many times."""
    data = zero_member_bomb(900 * MiB)
    done = threading.Event()
    answered_during = 0
    with ThreadPoolExecutor(1) as pool:
        f = pool.submit(lambda: (_upload(served, data), done.set()))
        with httpx.Client(base_url=served.base, timeout=60) as c:
            while not done.wait(0.01):
                if c.get("/api/health").status_code == 200 and not done.is_set():
                    answered_during += 1
        r, _ = f.result()
    assert "E_ARCHIVE_RATIO" in _codes(r)
    assert answered_during >= 2


# --- costly questions -----------------------------------------------------------------------


def test_a_window_of_two_centuries_is_a_bad_request(served: Served) -> None:
    r = httpx.get(
        f"{served.base}/api/kpis", headers=served.auth("auditor"),
        params={"profile": PROFILE, "from": "1970-01-01T00:00:00+00:00",
                "to": "2199-01-01T00:00:00+00:00"},
    )  # fmt: skip
    assert r.status_code == 400
    assert "at most 400 days" in r.json()["detail"]


def test_twenty_long_windows_at_once_leave_health_answering(served: Served) -> None:
    def ask(i: int) -> int:
        params = {"profile": PROFILE, "from": f"2025-{1 + i % 12:02d}-01T00:00:00+08:00",
                  "to": f"2026-{1 + i % 12:02d}-{1 + i:02d}T00:00:00+08:00"}  # fmt: skip
        return httpx.get(f"{served.base}/api/kpis", params=params,
                         headers=served.auth("auditor"), timeout=600).status_code  # fmt: skip

    with Watch(served) as watch, ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(ask, range(20)))
    # each is evaluated by the worker, or refused with 503 + Retry-After when too many wait
    assert set(statuses) <= {200, 503}, statuses
    assert 200 in statuses
    assert watch.health
    assert all(status == 200 for _, status in watch.health)


# --- headers, docs, builds ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/health", "/docs", "/static/app.js", "/api/kpis"])
def test_every_response_carries_the_security_headers(served: Served, path: str) -> None:
    r = httpx.get(served.base + path)
    assert r.status_code in (200, 401)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_the_api_reference_needs_no_outside_host(served: Served) -> None:
    page = httpx.get(f"{served.base}/docs").text
    assert "POST /api/verify" in page
    assert "<script" not in page
    assert "http://" not in page.replace(served.base, "")
    assert "https://" not in page
    assert httpx.get(f"{served.base}/redoc").status_code == 401  # no such page


def test_builds_get_unique_ids_are_rate_limited_and_pruned(served: Served, tmp_path: Path) -> None:
    body = {"profile": PROFILE, "from": WINDOW.start.isoformat(), "to": WINDOW.end.isoformat()}

    def build(role: str) -> httpx.Response:
        return httpx.post(f"{served.base}/api/evidence", json=body, headers=served.auth(role),
                          timeout=300)  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        first = list(pool.map(build, ["operator", "operator", "operator2", "operator2"]))
    assert [r.status_code for r in first] == [201] * 4, [r.text for r in first]
    ids = [r.json()["id"] for r in first]
    assert len(set(ids)) == 4
    assert build("operator").status_code == 429
    kept = sorted(p.name for p in served.work.glob("*.tar.gz"))
    assert len(kept) == 2, kept  # --keep-bundles 2
    # no bundle folder outlives its archive (`reports/` holds verification reports)
    assert not any(p.is_dir() and p.name != "reports"
                   and not (p.parent / f"{p.name}.tar.gz").exists()
                   for p in served.work.iterdir())  # fmt: skip

    # an auditor repacks a downloaded bundle with ordinary tar: it still verifies
    newest = kept[-1].removesuffix(".tar.gz")
    got = httpx.get(f"{served.base}/api/evidence/{newest}", headers=served.auth("auditor"))
    assert got.status_code == 200
    (tmp_path / "b.tar.gz").write_bytes(got.content)
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        tar.extractall(tmp_path / "b", filter="data")
    again = repack_with_tar(tmp_path / "b", tmp_path / "repacked.tar.gz").read_bytes()
    r = _upload(served, again, "repacked.tar.gz")
    assert r.status_code == 200
    assert r.json()["ok"] is True, r.text


# --- found by an adversarial helper -------------------------------------------------------


def test_a_lone_surrogate_in_json_is_a_422_not_a_500(served: Served) -> None:
    body = b'{"name": "a\\ud800b", "role": "operator"}'
    for path, role in (("/api/tokens", "admin"), ("/api/evidence", "operator")):
        headers = {**served.auth(role), "Content-Type": "application/json"}
        r = httpx.post(f"{served.base}{path}", content=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["x-frame-options"] == "DENY"


def test_two_authorization_headers_are_refused_before_the_body(served: Served) -> None:
    answer = declared_gigabyte(
        served,
        "/api/tokens",
        {
            "Authorization": f"Bearer {served.tokens['operator']}",
            "authorization": f"Bearer {served.tokens['admin']}",
        },
    )
    assert answer.status == 400, answer.head
    assert answer.sent < SOCKET_SLACK


def test_a_websocket_upgrade_reaches_no_route(served: Served) -> None:
    answer = raw_request(
        served.port, "GET", "/api/tokens",
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, iter([]),
    )  # fmt: skip
    assert answer.status in (403, 404), answer.head


@pytest.mark.parametrize(
    "pax",
    [
        {"GNU.sparse.map": "a,b", "GNU.sparse.size": "10"},
        {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "q"},
    ],
)
def test_malformed_sparse_headers_are_a_layout_finding(
    served: Served, pax: dict[str, str], tmp_path: Path
) -> None:
    import io

    path = tmp_path / "sparse.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("s")
        info.size = 1
        info.pax_headers = pax
        tar.addfile(info, io.BytesIO(b"x"))
    r = _upload(served, path.read_bytes(), "sparse.tar.gz", role="auditor2")
    codes = _codes(r)
    assert codes & {"E_BUNDLE_LAYOUT", "E_ARCHIVE_UNSAFE"}, r.text
    assert str(served.spool) not in r.text  # no server folder in the report
