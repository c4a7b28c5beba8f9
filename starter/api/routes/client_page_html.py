"""The client page's HTML: one small server-rendered document, phone first, no script.

Every value is escaped; colours meet WCAG AA contrast (text #1a1a1a and #4a4a4a on white,
white on #0b5cad); the layout is a single column that never scrolls sideways.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from fastapi.responses import HTMLResponse

from activities.repository.client_pages import PagePackage, PageVisit
from workflows.models import PackageKind
from workflows.schedule import good_through
from workflows.texts import amount

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
}

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#1a1a1a;background:#f4f5f7;overflow-wrap:anywhere}
header,main,footer{max-width:40rem;margin:0 auto;padding:1rem}
header{background:#0b5cad;color:#fff;max-width:none}
header p{margin:0;font-weight:600}
h1{font-size:1.5rem;margin:.5rem 0 0}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.card{background:#fff;border-radius:.75rem;padding:1rem;margin:0 0 .75rem;
box-shadow:0 1px 2px rgba(0,0,0,.12)}
.card h3{font-size:1.05rem;margin:0 0 .25rem}
.left{font-size:2rem;font-weight:700;margin:.25rem 0;line-height:1.2}
.muted{color:#4a4a4a;margin:.25rem 0}
.button,button{display:inline-block;min-height:44px;padding:.6rem 1rem;border-radius:.5rem;
font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
.button{background:#0b5cad;color:#fff;margin-top:.5rem}
button{background:#fff;color:#0b5cad;border:2px solid #0b5cad}
.button:focus,button:focus{outline:3px solid #f5a623;outline-offset:2px}
ul.visits{list-style:none;margin:0;padding:0;background:#fff;border-radius:.75rem}
ul.visits li{padding:.75rem 1rem;border-bottom:1px solid #e1e3e6}
ul.visits li:last-child{border-bottom:0}
.saved{background:#e7f4ea;color:#14532d;border-radius:.5rem;padding:.75rem 1rem}
footer{color:#4a4a4a;font-size:.875rem}
"""

_KIND_LABELS = {
    "redemption": "Visit",
    "no_show": "Missed appointment",
    "late_cancel": "Late cancellation",
    "reversal": "Visit corrected",
}


def page(spa: str, title: str, body: str, *, status: int = 200) -> HTMLResponse:
    """A whole document: the spa's name in a banner, `title` as its heading."""
    html = (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta name=robots content="noindex,nofollow">'
        '<meta name=referrer content="no-referrer">'
        f"<title>{escape(title)} · {escape(spa)}</title><style>{_CSS}</style></head>"
        f"<body><header><p>{escape(spa)}</p></header>"
        f"<main id=main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _package(p: PagePackage, *, timezone: str, token: str, renewable: bool) -> str:
    kind = PackageKind(p.kind)
    left = "none left" if p.remaining <= 0 else f"{amount(kind, p.remaining)} left"
    of = f"of {amount(kind, p.purchased_units)}"
    if p.expires_at is None:
        through = "No expiry date"
    else:
        day = good_through(p.expires_at, timezone)
        through = f"Good through {day:%b} {day.day}, {day.year}"
    hid = f"pkg-{escape(p.package_id)}"
    parts = [
        f'<section class=card aria-labelledby="{hid}">',
        f'<h3 id="{hid}">{escape(p.name)}</h3>',
        f'<p class=left data-remaining="{p.remaining}">{escape(left)}</p>',
        f"<p class=muted>{escape(of)}</p>",
        f"<p class=muted>{escape(through)}</p>",
    ]
    if p.status == "in_review":
        parts.append("<p class=muted>The spa is reviewing this package with you.</p>")
    if renewable:
        href = f"/me/{escape(token)}/renew/{escape(p.package_id)}"
        # Short to read; the package's name comes with it for a screen reader.
        parts.append(f'<a class=button href="{href}" aria-describedby="{hid}">Renew</a>')
    parts.append("</section>")
    return "".join(parts)


def _visits(visits: Iterable[tuple[PageVisit, str]]) -> str:
    items = [
        f"<li><strong>{escape(day)}</strong> · {escape(_KIND_LABELS.get(v.kind, v.kind))}"
        f"<br><span class=muted>{escape(v.package_name)}</span></li>"
        for v, day in visits
    ]
    if not items:
        return "<p class=muted>No visits yet.</p>"
    return "<ul class=visits>" + "".join(items) + "</ul>"


def _sms(token: str, *, opted_out: bool) -> str:
    action = f"/me/{escape(token)}/sms"
    if opted_out:
        state = "You will not get texts from us. Emails still come."
        choice, label = "start", "Send me texts again"
    else:
        state = "We text you after each visit and before a package expires."
        choice, label = "stop", "Stop texts"
    return (
        '<section class=card aria-labelledby="sms-h"><h3 id="sms-h">Text messages</h3>'
        f"<p class=muted>{escape(state)}</p>"
        f'<form method=post action="{action}">'
        f'<input type=hidden name=choice value="{choice}">'
        f"<button type=submit>{escape(label)}</button></form></section>"
    )


def _section(slug: str, title: str, inner: str) -> str:
    return (
        f'<section aria-labelledby="{slug}-h"><h2 id="{slug}-h">{escape(title)}</h2>'
        f"{inner}</section>"
    )


def render_client_page(
    *,
    spa: str,
    timezone: str,
    token: str,
    first_name: str,
    packages: list[PagePackage],
    visits: list[tuple[PageVisit, str]],
    renewable: set[str],
    sms_opt_out: bool,
    saved: str | None,
) -> HTMLResponse:
    """The page of one client: their packages, their visits, their text-message choice."""
    body: list[str] = []
    if saved == "stop":
        body.append("<p class=saved role=status>Done: we will not text you any more.</p>")
    elif saved == "start":
        body.append("<p class=saved role=status>Done: we will text you again.</p>")
    cards = "".join(
        _package(p, timezone=timezone, token=token, renewable=p.package_id in renewable)
        for p in packages
    )
    body.append(
        _section("packages", "Your packages", cards or "<p class=muted>No open packages.</p>")
    )
    body.append(_section("visits", "Your visits", _visits(visits)))
    body.append(_section("settings", "Settings", _sms(token, opted_out=sms_opt_out)))
    body.append(
        "<p class=muted>This page is yours: please do not share its link. "
        f"Questions? Ask {escape(spa)}.</p>"
    )
    title = f"Hi {first_name}" if first_name else "Your packages"
    return page(spa, title, "".join(body))
