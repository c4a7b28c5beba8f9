"""The reconciliation as people read it: CSV for the spreadsheet, a self-contained HTML page
(inline CSS and an inline SVG chart: no scripts, nothing fetched), and a plain-text summary
for the email body and the CLI. Money is dollars with cents everywhere.

The CSV has one header and one figure per row::

    section,measure,count,sessions,amount,detail

`amount` is dollars with two decimals (no currency sign, no thousands separator).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from activities.reports.models import OverrunAudit, ReconciliationReport

CSV_COLUMNS = ("section", "measure", "count", "sessions", "amount", "detail")
Cell = str | int | None


def dollars(cents: int) -> str:
    """1234.5 dollars as "1234.50": for CSV cells."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def money(cents: int) -> str:
    """ "$1,234.50" for people."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def _local(moment: datetime, timezone: str) -> str:
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="minutes")


def agreement(report: ReconciliationReport) -> str:
    diff = report.liability.difference_cents
    return "agrees" if diff == 0 else f"MISMATCH: balances exceed the ledger by {money(diff)}"


def csv_rows(report: ReconciliationReport) -> list[tuple[str, str, Cell, Cell, Cell, str]]:
    """Every figure of the report, in reading order."""
    r, tz = report, report.period.timezone
    s, c, e, x, o = r.sales, r.consumption, r.expiries, r.cancellations, r.open
    rows: list[tuple[str, str, Cell, Cell, Cell, str]] = [
        ("report", "period start", None, None, None, _local(r.period.start, tz)),
        ("report", "period end (exclusive)", None, None, None, _local(r.period.end, tz)),
        ("report", "generated at", None, None, None, _local(r.generated_at, tz)),
        ("report", "time zone", None, None, None, tz),
        ("sold", "packages sold", s.packages, s.sessions, s.value_cents, ""),
        ("sold", "dollar credit sold (face value)", None, None, s.credit_cents, ""),
        ("sold", "top-ups", s.top_ups, s.top_up_sessions, s.top_up_value_cents, ""),
        ("consumed", "sessions redeemed", None, c.sessions_redeemed, None, ""),
        ("consumed", "sessions reversed", None, c.sessions_reversed, None, ""),
        ("consumed", "sessions consumed (net)", None, c.sessions_consumed, None, ""),
        ("consumed", "dollar credit redeemed (net)", None, None, c.credit_redeemed_cents, ""),
        ("consumed", "value consumed (net)", None, None, c.consumed_value_cents, ""),
        (
            "consumed",
            "forfeited by policy (no-show / late cancel)",
            c.forfeits,
            c.forfeit_sessions,
            c.forfeit_value_cents,
            "",
        ),
        ("expired", "expired with unused balance", e.packages, e.sessions, e.breakage_cents, ""),
        ("expired", "unused dollar credit at expiry", None, None, e.credit_cents, ""),
        ("cancelled", "cancelled (refund due)", x.packages, None, x.refund_due_cents, ""),
        ("cancelled", "refunded through Stripe", None, None, x.refunded_cents, ""),
        ("cancelled", "cancellations undone (refund refused)", x.restored, None, None, ""),
        ("remaining", "open session packages", o.session_packages, o.sessions_remaining, None, ""),
        ("remaining", "open dollar-credit packages", o.credit_packages, None, None, ""),
        ("remaining", "dollar credit remaining", None, None, o.credit_remaining_cents, ""),
    ]
    for cat in r.categories:
        detail = f"credit remaining {money(cat.credit_cents)}" if cat.credit_cents else ""
        rows.append(
            (
                "unused by category",
                cat.category,
                cat.packages,
                cat.sessions,
                cat.unused_value_cents,
                detail,
            )
        )
    li = r.liability
    rows += [
        (
            "liability",
            "total liability (open packages)",
            li.open_packages,
            None,
            li.balance_cents,
            "",
        ),
        ("liability", "recomputed from the ledger", None, None, li.ledger_cents, ""),
        ("liability", "difference", None, None, li.difference_cents, agreement(r)),
    ]
    age = r.review.oldest_age_hours(r.generated_at)
    oldest = (
        "" if r.review.oldest_at is None else f"oldest {_local(r.review.oldest_at, tz)}, {age} h"
    )
    rows.append(("review", "open review items", r.review.open_items, None, None, oldest))
    rows += [
        ("review", f"open: {k}", n, None, None, "") for k, n in sorted(r.review.by_reason.items())
    ]
    ov = r.overruns
    rows.append(("overruns", "visits refused in period", ov.refused_visits, None, None, ""))
    rows += [
        ("overruns", f"refused: {k}", n, None, None, "") for k, n in sorted(ov.by_rule.items())
    ]
    rows.append(
        ("overruns", "redemptions over balance", ov.over_balance_redemptions, None, None, "")
    )
    if ov.latest_audit is not None:
        a = ov.latest_audit
        rows.append(
            (
                "overruns",
                "latest overrun audit: clients over",
                a.clients,
                a.excess_sessions,
                a.value_cents,
                f"{a.report_id}, visits {a.window_start} to {a.window_end}",
            )
        )
    return rows


def reconciliation_csv(report: ReconciliationReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for section, measure, count, sessions, amount, detail in csv_rows(report):
        writer.writerow(
            (
                section,
                measure,
                "" if count is None else count,
                "" if sessions is None else sessions,
                "" if amount is None else dollars(int(amount)),
                detail,
            )
        )
    return out.getvalue()


def reconciliation_text(report: ReconciliationReport) -> str:
    """The email's plain-text body and the CLI's summary: the ten figures that matter."""
    r = report
    s, c, e, o, li = r.sales, r.consumption, r.expiries, r.open, r.liability
    cats = ", ".join(f"{x.category} {money(x.unused_value_cents)}" for x in r.categories)
    age = r.review.oldest_age_hours(r.generated_at)
    rules = ", ".join(f"{k} {n}" for k, n in sorted(r.overruns.by_rule.items()))
    lines = [
        f"Punchcard reconciliation, {r.period.label()} ({r.period.timezone})",
        "",
        f"Packages sold: {s.packages} ({money(s.value_cents)}); top-ups: {s.top_ups} "
        f"(+{s.top_up_sessions} sessions, {money(s.top_up_value_cents)})",
        f"Sessions consumed: {c.sessions_consumed} ({c.sessions_redeemed} redeemed, "
        f"{c.sessions_reversed} reversed); value consumed {money(c.consumed_value_cents)}; "
        f"forfeited by policy: {c.forfeit_sessions} ({money(c.forfeit_value_cents)})",
        f"Expired with unused balance: {e.packages} packages, {e.sessions} sessions, "
        f"breakage {money(e.breakage_cents)}",
        f"Sessions remaining now: {o.sessions_remaining} on {o.session_packages} open packages; "
        f"dollar credit remaining {money(o.credit_remaining_cents)}",
        f"Total package liability (deferred revenue): {money(li.balance_cents)} on "
        f"{li.open_packages} open packages; from the ledger {money(li.ledger_cents)}: "
        f"{agreement(r)}",
        f"Unused value by category: {cats or 'none'}",
        f"Review queue: {r.review.open_items} open"
        + ("" if age is None else f", oldest waiting {age} hours"),
        f"Overruns: {r.overruns.refused_visits} completed visits refused in the period"
        + (f" ({rules})" if rules else "")
        + f", {r.overruns.over_balance_redemptions} redemptions over balance",
    ]
    audit = r.overruns.latest_audit
    if audit is not None:
        lines.append(
            f"Latest overrun audit ({audit.generated_at:%Y-%m-%d}, visits {audit.window_start} "
            f"to {audit.window_end}): {audit.clients} clients, {audit.excess_sessions} sessions "
            f"over, {money(audit.value_cents)}"
        )
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2330;
margin:2rem auto;max-width:760px;padding:0 1rem;line-height:1.4}
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem}
.muted{color:#5b6472}.big{font-size:2.2rem;font-weight:700;margin:.2rem 0}
.ok{color:#1f7a3a}.bad{color:#b3261e;font-weight:700}
table{border-collapse:collapse;width:100%}td,th{padding:.3rem .5rem;border-bottom:1px solid #e3e6ea;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.card{border:1px solid #d7dbe0;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
"""


def category_chart(report: ReconciliationReport) -> str:
    """Horizontal bars of unused value by category: one `<rect class="bar">` each."""
    cats = report.categories
    if not cats:
        return '<p class="muted">No open packages: nothing unused.</p>'
    width, label_w, value_w, row_h = 680, 150, 110, 30
    bar_max = width - label_w - value_w
    top = max(max(c.unused_value_cents for c in cats), 1)
    height = row_h * len(cats) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Unused value of open packages by category">'
    ]
    for i, cat in enumerate(cats):
        y = 5 + i * row_h
        w = max(round(bar_max * max(cat.unused_value_cents, 0) / top), 1)
        label, amount = escape(cat.category), escape(money(cat.unused_value_cents))
        parts.append(
            f"<g><title>{label}: {amount}, {cat.packages} packages</title>"
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" font-size="13">{label}</text>'
            f'<rect class="bar" data-category="{label}" x="{label_w}" y="{y}" width="{w}" '
            f'height="20" rx="3" fill="#3f6fc4"/>'
            f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="13">{amount}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Iterable[Sequence[str]], header: Sequence[str]) -> str:
    head = "".join(f'<th class="{"n" if i else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if i else ""}">{escape(v)}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def reconciliation_html(report: ReconciliationReport, *, spa_name: str = "Punchcard") -> str:
    r, li = report, report.liability
    status = "ok" if li.difference_cents == 0 else "bad"
    figures = [
        (
            section,
            measure,
            "" if n is None else f"{n:,}",
            "" if u is None else f"{u:,}",
            "" if a is None else money(int(a)),
        )
        for section, measure, n, u, a, _ in csv_rows(r)
        if section not in ("report", "unused by category", "liability")
    ]
    categories = [
        (c.category, f"{c.packages:,}", f"{c.sessions:,}", money(c.unused_value_cents))
        for c in r.categories
    ]
    title = f"{spa_name}: reconciliation {r.period.label()}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="muted">Week {escape(r.period.label())} in {escape(r.period.timezone)};
balances as of {escape(_local(r.generated_at, r.period.timezone))}.</p>
<div class="card">
<div class="muted">Total package liability (deferred revenue)</div>
<div class="big" id="liability">{escape(money(li.balance_cents))}</div>
<div>{li.open_packages:,} open packages. Recomputed from the ledger:
{escape(money(li.ledger_cents))} &mdash;
<span class="{status}" id="ledger-check">{escape(agreement(r))}</span></div>
</div>
<h2>Unused value by category</h2>
{category_chart(r)}
{_table(categories, ("Category", "Open packages", "Sessions left", "Unused value"))}
<h2>The week in figures</h2>
{_table(figures, ("Section", "Measure", "Count", "Sessions", "Amount"))}
<p class="muted">A package type covering several categories counts under its first one.</p>
</body></html>
"""


OVERRUN_COLUMNS = (
    "client_id",
    "client_name",
    "category",
    "visits",
    "sessions_available",
    "excess",
    "session_value",
    "excess_value",
    "note",
)


def overruns_csv(audit: OverrunAudit) -> str:
    """The overruns, then visits without a package, unknown clients and unknown services
    (one row each, naming the export's lines)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(OVERRUN_COLUMNS)
    for o in audit.overruns:
        writer.writerow(
            (
                o.client_id,
                o.client_name,
                o.category,
                o.visits,
                o.available,
                o.excess,
                dollars(o.session_value_cents),
                dollars(o.value_cents),
                "overrun",
            )
        )
    for n in audit.no_package:
        note = "no package for this category in the window: paid at the visit?"
        writer.writerow((n.client_id, n.client_name, n.category, n.visits, 0, "", "", "", note))
    for u in audit.unknown_clients:
        note = f"unknown client, lines {' '.join(str(n) for n in u.lines)}"
        writer.writerow(("", u.reference, "", u.visits, "", "", "", "", note))
    for sv in audit.unknown_services:
        note = f"unknown service, lines {' '.join(str(n) for n in sv.lines)}"
        writer.writerow(("", "", sv.service, sv.visits, "", "", "", "", note))
    return out.getvalue()
