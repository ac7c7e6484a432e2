"""A raw point's trend as SVG, drawn on the server like the KPI charts: the mean as a
line over a band from min to max, times on the axis in the site's zone."""

import math
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from pilotproof.web.models import PointTrend

WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 760, 220, 64, 24, 36


def trend_svg(trend: PointTrend, tz: str) -> str:
    """The trend as an SVG image; a trend without samples is a frame saying so."""
    # a value no axis can hold (±inf, NaN: a mean that overflowed) is left out, and said
    rows = [r for r in trend.rows
            if r.mean is not None and all(math.isfinite(v) for v in (r.mean, r.min, r.max)
                                          if v is not None)]  # fmt: skip
    dropped = len([r for r in trend.rows if r.mean is not None]) - len(rows)
    title = f"{trend.element} · {trend.point}" + (f" ({trend.unit})" if trend.unit else "")
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH + LEFT + 48}' "
        f"height='{HEIGHT + TOP + BOTTOM}' role='img' aria-label='{escape(title)}'>"
        f"<text x='0' y='14' font-size='12' font-weight='bold'>{escape(title)} · "
        f"{trend.every_s:,} s</text>"
    )
    if not rows:
        return head + (
            f"<text x='{LEFT}' y='{TOP + 40}' font-size='12'>无数据 no samples in the window</text>"
            "</svg>"
        )
    # (time, mean, min, max) with the mean standing in for a missing min or max
    pts = [(r.time, m, m if r.min is None else r.min, m if r.max is None else r.max)
           for r in rows if (m := r.mean) is not None]  # fmt: skip
    # halves throughout: the difference of two finite floats may overflow, of halves never
    lo, hi = min(p[2] for p in pts) / 2, max(p[3] for p in pts) / 2
    if hi - lo <= max(abs(hi), abs(lo)) * 1e-12:  # flat: pad by a hundredth of the level
        pad = max(abs(hi), abs(lo)) * 0.01 or 0.5
        lo, hi = lo - pad / 2, hi + pad / 2
    t0, t1 = rows[0].time.timestamp(), rows[-1].time.timestamp() + trend.every_s

    def x(t: datetime) -> float:
        return LEFT + (t.timestamp() - t0) / (t1 - t0) * WIDTH

    def y(v: float) -> float:
        return TOP + min(1.0, max(0.0, (hi - v / 2) / (hi - lo))) * HEIGHT

    band = [f"{x(t):.1f},{y(top):.1f}" for t, _, _, top in pts]
    band += [f"{x(t):.1f},{y(bottom):.1f}" for t, _, bottom, _ in reversed(pts)]
    line = " ".join(f"{x(t):.1f},{y(m):.1f}" for t, m, _, _ in pts)
    zone = ZoneInfo(tz)
    ticks = []
    for i in range(5):
        t = t0 + (t1 - t0) * i / 4
        label = datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M")
        tx = LEFT + WIDTH * i / 4
        ticks.append(
            f"<line x1='{tx:.1f}' y1='{TOP + HEIGHT}' x2='{tx:.1f}' y2='{TOP + HEIGHT + 4}' "
            f"stroke='#666'/><text x='{tx:.1f}' y='{TOP + HEIGHT + 18}' font-size='10' "
            f"text-anchor='middle'>{label}</text>"
        )
    for v in (2 * lo, lo + hi, 2 * hi):  # the axis in real values (y halves them again)
        ticks.append(
            f"<text x='{LEFT - 4}' y='{y(v) + 4:.1f}' font-size='10' text-anchor='end'>"
            f"{v:,.4g}</text><line x1='{LEFT}' y1='{y(v):.1f}' x2='{LEFT + WIDTH}' "
            f"y2='{y(v):.1f}' stroke='#eee'/>"
        )
    return (
        head
        + "".join(ticks)
        + f"<rect x='{LEFT}' y='{TOP}' width='{WIDTH}' height='{HEIGHT}' fill='none' "
        "stroke='#ccc'/>"
        + f"<polygon points='{' '.join(band)}' fill='#4e79a7' fill-opacity='0.2'/>"
        + f"<polyline class='mean' points='{line}' fill='none' stroke='#4e79a7' "
        "stroke-width='1.5'/>"
        + f"<text x='{LEFT}' y='{TOP + HEIGHT + 32}' font-size='10' fill='#666'>"
        f"{escape(tz)} · 均值 mean, 阴影 min–max"
        + (f" · {dropped} 个无法绘制的桶 buckets not drawn (inf/NaN)" if dropped else "")
        + "</text></svg>"
    )
