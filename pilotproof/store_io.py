"""`store import` and `store export`: history from an existing historian into a store, and
a store's data out again as line protocol.

An imported line is judged as the agent judges one from MQTT (`telemetry.contract`): a
measurement a device may send, its tags, its fields with their types — and never evidence
(`pp_batch`, `pp_lines`) or the agent's own rows. Point health (`point_health`) may be
imported as the exporting system computed it. A refused line is named by file and line
with the reason; the rest is imported. Writes are idempotent (a point is its series and
its time), so an import run again after fixing its refused lines stores each point once.

CSV: a header row; a `measurement` column (or `--measurement` for every row); a `time`
column (ISO 8601 with an offset, or without one in `--tz`, or integer nanoseconds since
1970); the measurement's tags (`site` may come from `--site` instead); every other column
a field of it, typed as the contract types it (`true`/`false`, integers, decimals, text).
An empty cell is no field.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import gzip
import io
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from telemetry import Point, Store, StoreError, WriteResult, decode_line, encode_line
from telemetry.contract import IMPORTED_MEASUREMENTS, ContractError, conform
from telemetry.point import PointError
from telemetry.schema import KPI_STREAM_MEASUREMENTS, MEASUREMENTS
from telemetry.timegrid import NS

#: what `store export` writes by default: every measurement a store of pilotproof holds
EXPORTED = (*MEASUREMENTS, "pp_agent")
#: measurements whose time is a chain's seq: exported whole, whatever the window
SEQ_TIMED = frozenset({"pp_batch", "pp_lines"})
SEQ_END = 1 << 62
#: points written per store call
CHUNK = 20_000
#: refused lines kept with their place and reason (all are counted)
KEEP_REFUSED = 20


@dataclass
class ImportReport:
    """What an import did: lines read, points stored, and each refusal's place and reason
    (the first `KEEP_REFUSED`; `refused` counts them all, `reasons` by reason)."""

    lines: int = 0
    stored: int = 0
    refused: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    comments: int = 0
    """lines skipped as comments (`#` first: line protocol's, and annotated CSV's)"""

    def refuse(self, where: str, reason: str, message: str) -> None:
        self.refused += 1
        self.reasons[reason] += 1
        if len(self.examples) < KEEP_REFUSED:
            self.examples.append((where, message))


def _binary(path: Path) -> io.BufferedIOBase:
    raw = path.open("rb")
    try:
        head = raw.read(2)
        raw.seek(0)
    except OSError:
        raw.close()
        raise
    if head == b"\x1f\x8b":  # gzip, whatever the file is called
        return gzip.GzipFile(fileobj=raw)
    return raw


def _open(path: Path, report: ImportReport) -> io.BufferedIOBase | None:
    """The file to read, or None with the file refused when it cannot be read at all."""
    try:
        return _binary(path)
    except OSError as e:
        report.refuse(path.name, "unreadable", f"{path.name}: cannot be read "
                      f"({e.strerror or e})")  # fmt: skip
        return None


#: bytes decompressed and split at a time (reading line by line costs a call per line)
READ_BYTES = 1 << 20


#: a longer line is refused unread (a file of zeros without a newline would fill memory)
MAX_LINE = 1 << 20


def _raw_lines(f: io.BufferedIOBase) -> Iterator[bytes | None]:
    """Each line's bytes; None for a line past MAX_LINE (skipped to its end)."""
    rest = b""
    skipping = False
    # read1: one decompression step at a time, so a stream that breaks loses only the
    # step it broke in, not a whole block of lines decompressed before it
    while block := f.read1(READ_BYTES):
        parts = (rest + block).split(b"\n")
        rest = parts.pop()
        for part in parts:
            if skipping:
                skipping = False  # the end of the over-long line: not a line of its own
                continue
            yield part if len(part) <= MAX_LINE else None
        if len(rest) > MAX_LINE:
            if not skipping:
                yield None
            skipping, rest = True, b""
    if rest and not skipping:
        yield rest if len(rest) <= MAX_LINE else None


def _lines(path: Path, report: ImportReport) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-empty, non-comment line. A line too long or not
    UTF-8 is refused by its number and the others go on; a gzip stream that ends early or
    breaks is refused after the last line it gave."""
    n = 0
    f = _open(path, report)
    if f is None:
        return
    with f:
        try:
            for n, raw in enumerate(_raw_lines(f), 1):
                if raw is None:
                    where = f"{path.name}:{n}"
                    report.lines += 1
                    report.refuse(where, "too_long", f"{where}: a line of more than "
                                  f"{MAX_LINE:,} bytes")  # fmt: skip
                    continue
                try:
                    text = raw.decode("utf-8").rstrip("\r")
                except UnicodeDecodeError as e:
                    where = f"{path.name}:{n}"
                    report.lines += 1
                    report.refuse(where, "bad_text", f"{where}: not UTF-8 (byte {e.start})")
                    continue
                if text.startswith("#"):
                    report.comments += 1
                elif text.strip():
                    yield n, text
        except (EOFError, OSError, zlib.error) as e:  # a truncated or damaged stream
            _broken(path, n, e, report)


def _broken(path: Path, n: int, e: Exception, report: ImportReport) -> None:
    report.lines += 1
    packed = isinstance(e, EOFError | zlib.error | gzip.BadGzipFile)
    report.refuse(f"{path.name}:{n + 1}", "bad_gzip" if packed else "unreadable",
                  f"{path.name}: the {'compressed data' if packed else 'file'} ends or "
                  f"breaks after line {n}: {str(e)[:120]}")  # fmt: skip


Placed = tuple[str, Point]
"""A point with the file and line it came from, so a later refusal can name the place."""


def line_points(
    path: Path, site: str | None, report: ImportReport, *, whole_store: bool = False
) -> Iterator[Placed]:
    """The points of a line-protocol file, each held to the contract — or, `whole_store`
    (moving a store: `store export` of another), every measurement as it is, the agents'
    own rows and the sealed chains included (a bundle's chain check verifies those by
    their signatures, whichever store they were moved through)."""
    name = path.name
    for n, text in _lines(path, report):
        report.lines += 1
        where = f"{name}:{n}"
        try:
            p = decode_line(text)
            if whole_store:
                if site is not None and p.tags.get("site") != site:
                    raise ContractError("other_site", f"{where}: not of site {site!r}")
                yield where, p
                continue
            yield where, _checked(p, where, site)
        except ContractError as e:
            # refused measurements by name: "pp_batch 40, pp_lines 295" says what the file is
            reason = f"{e.reason} ({p.measurement})" if e.reason == "bad_measurement" else e.reason
            report.refuse(where, reason, e.detail)
        except (PointError, ValueError) as e:
            report.refuse(where, "bad_line", f"{where}: {str(e)[:200]}")


def _checked(p: Point, where: str, site: str | None) -> Point:
    if site is not None and p.tags.get("site", site) != site:
        raise ContractError("other_site", f"{where}: site {p.tags['site']!r:.40}, importing "
                            f"into {site!r}")  # fmt: skip
    out = conform(p, where, site, kinds=IMPORTED_MEASUREMENTS)
    if "site" not in out.tags:
        raise ContractError("bad_shape", f"{where}: no site tag; give --site")
    return out


def _csv_rows(path: Path, report: ImportReport) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each CSV record: quoted cells may hold commas and line
    breaks; a UTF-8 byte-order mark is dropped; a record the csv module cannot read is
    refused by its line, a comment (`#` first) is skipped and counted."""
    f = _open(path, report)
    if f is None:
        return
    csv.field_size_limit(MAX_LINE)  # cells up to a line's limit (the module's own: 128 KiB)
    with f, io.TextIOWrapper(f, encoding="utf-8-sig", newline="") as text:  # type: ignore[type-var]
        reader = csv.reader(text)
        n = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                n = reader.line_num
                report.lines += 1
                report.refuse(f"{path.name}:{n}", "bad_csv", f"{path.name}:{n}: "
                              f"{str(e)[:120]}")  # fmt: skip
                continue
            except UnicodeDecodeError as e:
                report.lines += 1
                report.refuse(f"{path.name}:{n + 1}", "bad_text", f"{path.name}: not UTF-8 "
                              f"after line {n} (byte {e.start} of a block)")  # fmt: skip
                return
            except (EOFError, OSError, zlib.error) as e:
                _broken(path, n, e, report)
                return
            n = reader.line_num
            if cells and cells[0].startswith("#"):
                report.comments += 1
            elif any(c.strip() for c in cells):
                yield n, cells


def csv_points(
    path: Path, site: str | None, measurement: str | None, tz: str, report: ImportReport
) -> Iterator[Placed]:
    """The points of a CSV file with the column mapping of the module docstring."""
    rows = _csv_rows(path, report)
    try:
        first, header = next(rows)
    except StopIteration:
        return
    head = f"{path.name}:{first}"
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        report.refuse(head, "bad_header", f"{head}: the column {twice[0]!r:.60} is there "
                      "twice; name each column once")  # fmt: skip
        return
    if "time" not in header or ("measurement" not in header and measurement is None):
        report.refuse(head, "bad_header", f"{head}: a CSV needs a `time` column and a "
                      "`measurement` column (or --measurement)")  # fmt: skip
        return
    zone = ZoneInfo(tz)
    for n, cells in rows:
        report.lines += 1
        where = f"{path.name}:{n}"
        try:
            if len(cells) != len(header):
                raise ContractError("bad_shape", f"{where}: {len(cells)} cells under "
                                    f"{len(header)} columns")  # fmt: skip
            row = dict(zip(header, cells, strict=True))
            name = row.pop("measurement", None) or measurement or ""
            stamp = parse_time(row.pop("time"), zone, where)
            m = MEASUREMENTS.get(name)
            if m is None or name not in IMPORTED_MEASUREMENTS:
                carried = ", ".join(sorted(IMPORTED_MEASUREMENTS))
                raise ContractError("bad_measurement", f"{where}: {name!r:.60} is not device "
                                    f"data; a CSV carries {carried}")  # fmt: skip
            tags = {k: v for k, v in row.items() if k in m.tags and v != ""}
            fields = {k: _typed(v, m.fields.get(k), where, k)
                      for k, v in row.items() if k not in m.tags and v != ""}  # fmt: skip
            yield where, _checked(Point(name, tags, fields, stamp), where, site)
        except ContractError as e:
            report.refuse(where, e.reason, e.detail)
        except (PointError, ValueError) as e:
            report.refuse(where, "bad_line", f"{where}: {str(e)[:200]}")


#: the times an import takes, as `store export` (1970 up to 2200)
TIME_MIN, TIME_MAX = 0, 7_258_118_400 * NS
_FRACTION = re.compile(r"(\d{2}:\d{2}:\d{2})[.,](\d+)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(text: str, zone: ZoneInfo, where: str) -> int:
    """Integer nanoseconds, or ISO 8601 to the nanosecond (`…:05.123456789`), in `zone`
    when it has no offset; refused outside 1970–2199."""
    text = given = text.strip()
    if text.isdigit():
        ns = int(text)
    else:
        frac = 0
        m = _FRACTION.search(text)
        if m is not None:  # datetime keeps microseconds: the digits after them are ours
            frac = int((m.group(2) + "000000000")[:9])
            if len(m.group(2)) > 9:
                raise ContractError("bad_time", f"{where}: time {text!r:.40} is finer than "
                                    "a nanosecond")  # fmt: skip
            text = text[: m.start()] + m.group(1) + text[m.end() :]
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise ContractError("bad_time", f"{where}: time {text!r:.40} is neither ISO 8601 "
                                "nor integer nanoseconds") from None  # fmt: skip
        if t.tzinfo is None:
            t = t.replace(tzinfo=zone)
        d = t - _EPOCH  # exact, before 1970 too (timestamp() is a float)
        ns = (d.days * 86400 + d.seconds) * NS + frac
    if not TIME_MIN <= ns < TIME_MAX:
        raise ContractError("bad_time", f"{where}: time {given!r:.40} is outside 1970–2199")
    return ns


def _typed(text: str, want: str | None, where: str, key: str) -> float | int | bool | str:
    """A cell as the contract types its field (a field the contract lacks stays text, and
    `conform` names it)."""
    try:
        if want == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if want == "int":
            return int(text)
        if want == "float":
            return float(text)
    except ValueError:
        raise ContractError("bad_value", f"{where}: {key} = {text!r:.40} is not a {want}") from None
    return text


class Sealed:
    """The spans of time an agent sealed, per site (`[first_ns, last_ns]` of each KPI-stream
    record in the store): an import may not overwrite sealed rows — a bundle of that time
    would then be built from other numbers than its agents signed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.spans: dict[str, tuple[list[int], list[int]]] = {}

    async def _of(self, site: str) -> tuple[list[int], list[int]]:
        if site not in self.spans:
            from verifier.chain import read_chains

            merged: list[list[int]] = []
            try:
                chains = await read_chains(self.store, site)
            except (KeyError, ValueError, TypeError) as e:
                raise StoreError(
                    f"the store's sealed chain of site {site!r} has a row pilotproof did not "
                    f"write ({type(e).__name__}: {str(e)[:80]}), so an import cannot tell "
                    "which times agents sealed; check it with `pilotproof evidence build` "
                    "or import with --whole-store into a fresh store"
                ) from None
            records = [r for chain in chains.values() for r in chain]
            for a, b in sorted((r.first_ns, r.last_ns) for r in records):
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            self.spans[site] = ([a for a, _ in merged], [b for _, b in merged])
        return self.spans[site]

    async def unsealed(self, points: list[Placed], report: ImportReport) -> list[Placed]:
        keep = []
        for where, p in points:
            if p.measurement in KPI_STREAM_MEASUREMENTS:
                starts, ends = await self._of(p.tags.get("site", ""))
                i = bisect.bisect_right(starts, p.time_ns) - 1
                if i >= 0 and p.time_ns <= ends[i]:
                    report.refuse(where, "sealed", f"{where}: an agent sealed this site's "
                                  f"{p.measurement} at this time; an import may not change "
                                  "it")  # fmt: skip
                    continue
            keep.append((where, p))
        return keep


async def import_points(
    store: Store, points: Iterator[Placed], report: ImportReport,
    progress: Callable[[], None] | None = None, *, guard_sealed: bool = True,
) -> None:  # fmt: skip
    """Write `points` in chunks; what the store refuses is counted with its reason. The
    next chunk is decoded while the store writes the last one (one write in flight). With
    `guard_sealed`, a KPI-stream point inside a span an agent sealed is refused (`Sealed`)."""
    t0 = time.perf_counter()
    pending: asyncio.Task[WriteResult] | None = None
    written: list[Placed] = []  # the chunk in flight, to name a refused line's place

    async def settle() -> None:
        nonlocal pending
        if pending is None:
            return
        result = await pending
        pending = None
        report.stored += result.written
        # a refusal is rare: only then are the chunk's lines encoded again to find it
        places = {encode_line(p): where for where, p in written} if result.rejected else {}
        for r in result.rejected:
            where = places.get(r.line, "the store")
            report.refuse(where, "store_refused", f"{where}: the store refused "
                          f"{r.line[:80]!r}: {r.reason[:160]}")  # fmt: skip
        written.clear()
        if progress is not None:
            progress()

    chunk: list[Placed] = []
    sealed = Sealed(store) if guard_sealed else None

    async def start() -> None:
        nonlocal pending, chunk
        keep = chunk if sealed is None else await sealed.unsealed(chunk, report)
        written[:] = keep
        points_only = [p for _, p in keep]
        pending = asyncio.create_task(store.write(points_only))
        chunk = []

    try:
        for placed in points:
            chunk.append(placed)
            if len(chunk) >= CHUNK:
                await settle()
                await start()
                await asyncio.sleep(0)  # let the write start before decoding more
        await settle()
        if chunk:
            await start()
            await settle()
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
    report.seconds += time.perf_counter() - t0


async def export_lines(
    store: Store, measurements: list[str], start_ns: int, end_ns: int, site: str | None,
    out: io.TextIOBase, day_ns: int = 86400 * NS,
) -> int:  # fmt: skip
    """Every point of `measurements` in `[start_ns, end_ns)` as line protocol into `out`,
    a day at a time (memory stays that of one day); the sealed chains (`pp_batch`,
    `pp_lines`, stamped with their seq, not a time) whole. Returns how many."""
    n = 0
    where: dict[str, str | tuple[str, ...]] | None = {"site": site} if site else None
    for m in measurements:
        if m in SEQ_TIMED:
            for p in await store.read(m, 0, SEQ_END, where=where):
                out.write(encode_line(p) + "\n")
                n += 1
            continue
        a = start_ns
        while a < end_ns:
            b = min(end_ns, a + day_ns)
            for p in await store.read(m, a, b, where=where):
                out.write(encode_line(p) + "\n")
                n += 1
            a = b
    return n
