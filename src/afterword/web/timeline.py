"""The timeline on the owner's dashboard: an SVG of the last months (check-ins, reminders,
alarms, the deadline and the grace or waiting period ahead), drawn on the server.

Separate because it is a drawing, not a page: it needs no request, and the page needs no
script to show it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from afterword.engine.mail_text import when

TIMELINE_DAYS = 120  # how far back the timeline reaches

POINTS = {
    "armed": ("other", "armed"),
    "checked-in": ("checkin", "checked in"),
    "reminded": ("reminder", "reminder sent"),
    "overdue": ("alarm", "overdue"),
    "triggered": ("alarm", "triggered"),
    "releasing": ("alarm", "release began"),
    "released": ("alarm", "released"),
    "paused": ("other", "paused"),
    "share": ("other", "share submitted"),
    "vote": ("alarm", "custodian vote"),
    "canary": ("alarm", "a protected person's alarm"),
    "canary-checkin": ("other", "a protected person checked in"),
}


def timeline_svg(
    entries: Sequence[dict[str, Any]], status: dict[str, Any], grace: int, now: int
) -> Markup:
    """An SVG picture of the last months: check-ins, reminders, alarms, the deadline, the
    grace (or waiting) period ahead and now. Drawn here: the page needs no script."""
    width, height, left, right, axis_y = 720, 150, 20, 20, 80
    marks = [e for e in entries if e["kind"] in POINTS]
    start = max(min([e["at"] for e in marks] or [now]), now - TIMELINE_DAYS * 86400)
    bands: list[tuple[str, int, int, str]] = []
    if status["state"] == "armed" and status["deadline"]:
        bands.append(("grace", status["deadline"], status["deadline"] + grace, "grace period"))
    elif status["state"] == "overdue":
        bands.append(("grace", status["deadline"], status["grace_ends"], "grace period"))
    elif status["state"] == "triggered":
        bands.append(("waiting", now, status["release_at"], "waiting period before release"))
    ahead = [b[2] for b in bands] + [t for t in (status.get("deadline"),) if t]
    end = max([now, *ahead])
    span = max(end - start, 3600)
    start -= span // 20
    end = start + span + span // 10

    def x(t: int) -> float:
        return round(left + (t - start) * (width - left - right) / (end - start), 1)

    out = [
        f'<svg class="timeline" id="timeline" viewBox="0 0 {width} {height}" role="img" '
        'aria-labelledby="timeline-title timeline-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="timeline-title">Timeline of your switch</title>',
        f'<desc id="timeline-desc">{len([m for m in marks if m["kind"] == "checked-in"])} '
        f"check-ins since {html.escape(when(start))}; green dots are check-ins, orange "
        "reminders, red alarms, the dashed line the deadline, the shaded band the grace "
        "or waiting period.</desc>",
    ]
    for cls, a, b, label in bands:
        out.append(
            f'<rect class="{cls}" x="{x(a)}" y="{axis_y - 30}" width="{max(x(b) - x(a), 2)}" '
            f'height="60"><title>{html.escape(label)}: {html.escape(when(a))} to '
            f"{html.escape(when(b))}</title></rect>"
        )
    out.append(f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{width - right}" y2="{axis_y}"/>')
    if status.get("deadline"):
        d = x(status["deadline"])
        out.append(
            f'<line class="deadline" x1="{d}" y1="{axis_y - 40}" x2="{d}" y2="{axis_y + 40}">'
            f"<title>check-in due {html.escape(when(status['deadline']))}</title></line>"
        )
    for e in marks:
        if e["at"] < start:
            continue
        cls, label = POINTS[e["kind"]]
        r = 7 if cls == "checkin" else 5
        y = axis_y if cls == "checkin" else axis_y - 16
        out.append(
            f'<circle class="point {cls}" cx="{x(e["at"])}" cy="{y}" r="{r}">'
            f"<title>{html.escape(label)}, {html.escape(when(e['at']))}</title></circle>"
        )
    n = x(now)
    out.append(
        f'<line class="now" x1="{n}" y1="{axis_y - 45}" x2="{n}" y2="{axis_y + 45}">'
        f"<title>now: {html.escape(when(now))}</title></line>"
    )
    out.append(f'<text class="tick-label" x="{n + 4}" y="{axis_y - 34}">now</text>')
    for t, anchor in ((start, "start"), (end, "end")):
        out.append(
            f'<text class="tick-label" x="{x(t)}" y="{height - 12}" text-anchor="{anchor}">'
            f"{html.escape(when(t)[:10])}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))
