"""CSV downloads: UTF-8 with a byte-order mark, so that Excel on a Chinese Windows opens
the Chinese names as written instead of as mojibake."""

import csv
import io
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from fastapi import Response

#: a cell starting with one of these is a formula to a spreadsheet (CSV injection)
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: object) -> object:
    """A value as a CSV cell: None empty; a text a spreadsheet would run as a formula
    quoted with a leading apostrophe (OWASP's advice), numbers as they are."""
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(FORMULA):
        try:
            float(v)
        except ValueError:
            return "'" + v
    return v


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Response:
    """`rows` under `header` as a download named `filename`."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_cell(v) for v in row])
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
