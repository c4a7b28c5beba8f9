"""The reconciliation as people read it: CSV for the spreadsheet, a self-contained HTML page
(headline figures with their change from the previous period, a bar chart drawn by
matplotlib, then details; inline styles and tables, as mail clients need: no scripts,
nothing fetched; the chart inline SVG on the web, a `cid:` PNG in the email), and a
plain-text summary for the email body and the CLI. Money is dollars with cents everywhere,
through `workflows.texts.money`; times are in the spa's zone, written for people.

The CSV has one header and one figure per row::

    section,measure,count,sessions,amount,detail

`amount` is dollars with two decimals (no currency sign, no thousands separator).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Literal
from zoneinfo import ZoneInfo

from activities.reports.models import LocationFigures, OverrunAudit, ReconciliationReport
from workflows import texts

CSV_COLUMNS = ("section", "measure", "count", "sessions", "amount", "detail")
Cell = str | int | None


dollars = texts.plain_dollars  # "1234.50": CSV cells
money = texts.money  # "$1,234.50": for people


def _local(moment: datetime, timezone: str) -> str:
    """ISO with the offset, for the CSV."""
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="minutes")


def when(moment: datetime, timezone: str) -> str:
    """ "Wed, Mar 11, 2026, 9:00 AM EDT": a moment in the spa's zone, for people."""
    t = moment.astimezone(ZoneInfo(timezone))
    hour = t.hour % 12 or 12
    return (
        f"{t:%a}, {t:%b} {t.day}, {t.year}, {hour}:{t:%M} {'AM' if t.hour < 12 else 'PM'} "
        f"{t.tzname()}"
    )


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
        *([("report", "location", None, None, None, _place(r))] if r.location is not None else []),
        ("sold", "packages sold", s.packages, s.sessions, s.value_cents, ""),
        ("sold", "dollar credit sold (face value)", None, None, s.credit_cents, ""),
        ("sold", "top-ups", s.top_ups, s.top_up_sessions, s.top_up_value_cents, ""),
        (
            "brought in",
            "opening balances imported (not sales)",
            r.migrated.packages,
            r.migrated.sessions,
            r.migrated.value_cents,
            "",
        ),
        ("brought in", "dollar credit imported", None, None, r.migrated.credit_cents, ""),
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
    for loc in r.locations:
        rows += _location_rows(loc)
    return rows


def _place(report: ReconciliationReport) -> str:
    """ "venice (Glow Venice): its packages only; review queue and refused visits: all"."""
    assert report.location is not None
    where = report.location
    return (
        f"{where.location_id} ({where.name}): its packages only; the review queue and "
        "refused visits are the whole spa's"
    )


def _location_rows(loc: LocationFigures) -> list[tuple[str, str, Cell, Cell, Cell, str]]:
    """One location's share, under section "by location"; each sums to the total's row."""
    s, m, c, e, x, o = (
        loc.sales,
        loc.migrated,
        loc.consumption,
        loc.expiries,
        loc.cancellations,
        loc.open,
    )
    name, section = loc.location.location_id, "by location"
    return [
        (
            section,
            f"{name}: liability at period end",
            None,
            None,
            loc.at_end_cents,
            loc.location.name,
        ),
        (section, f"{name}: liability at period start", None, None, loc.at_start_cents, ""),
        (
            section,
            f"{name}: total liability (open packages)",
            o.session_packages + o.credit_packages,
            o.sessions_remaining,
            loc.balance_cents,
            "",
        ),
        (section, f"{name}: packages sold", s.packages, s.sessions, s.value_cents, ""),
        (section, f"{name}: top-ups", s.top_ups, s.top_up_sessions, s.top_up_value_cents, ""),
        (section, f"{name}: opening balances imported", m.packages, m.sessions, m.value_cents, ""),
        (
            section,
            f"{name}: value consumed (net)",
            None,
            c.sessions_consumed,
            c.consumed_value_cents,
            "",
        ),
        (
            section,
            f"{name}: forfeited by policy",
            c.forfeits,
            c.forfeit_sessions,
            c.forfeit_value_cents,
            "",
        ),
        (
            section,
            f"{name}: expired with unused balance",
            e.packages,
            e.sessions,
            e.breakage_cents,
            "",
        ),
        (section, f"{name}: cancelled (refund due)", x.packages, None, x.refund_due_cents, ""),
    ]


def location_liability_cents(report: ReconciliationReport, loc: LocationFigures) -> int:
    """A location's liability as the report leads with it (see `headline_liability_cents`)."""
    return loc.at_end_cents if _ended(report) else loc.balance_cents


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
        f"Reconciliation, {r.period.title()} ({r.period.timezone})",
        *([f"Location {_place(r)}"] if r.location is not None else []),
        f"Balances as of {when(r.generated_at, r.period.timezone)}",
        "",
        *(
            f"{h.label}: {h.figure}" + (f" ({h.delta[0]} {h.vs})" if h.delta[0] else "")
            for h in headlines(r)
        ),
        "",
        f"Packages sold: {s.packages} ({money(s.value_cents)}); top-ups: {s.top_ups} "
        f"(+{s.top_up_sessions} sessions, {money(s.top_up_value_cents)})",
        *(
            [
                f"Brought in from the old system (opening balances, not sales): "
                f"{_n(r.migrated.packages, 'package')}, {money(r.migrated.value_cents)} of "
                "liability taken over"
            ]
            if r.migrated.packages
            else []
        ),
        f"Sessions consumed: {c.sessions_consumed} ({c.sessions_redeemed} redeemed, "
        f"{c.sessions_reversed} reversed); value consumed {money(c.consumed_value_cents)}; "
        f"forfeited by policy: {c.forfeit_sessions} ({money(c.forfeit_value_cents)})",
        f"Expired with unused balance: {e.packages} packages, {e.sessions} sessions, "
        f"breakage {money(e.breakage_cents)}",
        f"Sessions remaining now: {o.sessions_remaining} on {o.session_packages} open packages; "
        f"dollar credit remaining {money(o.credit_remaining_cents)}",
        f"Total package liability today (deferred revenue): {money(li.balance_cents)} on "
        f"{li.open_packages} open packages; from the ledger {money(li.ledger_cents)}: "
        f"{agreement(r)}",
        f"Unused value by category: {cats or 'none'}",
        f"Review queue: {r.review.open_items} open"
        + ("" if age is None else f", oldest waiting {age} hours"),
        f"Overruns: {r.overruns.refused_visits} completed visits refused in the period"
        + (f" ({rules})" if rules else "")
        + f", {r.overruns.over_balance_redemptions} redemptions over balance",
    ]
    if r.locations:
        lines.append("By location:")
        lines += [
            f"  {loc.location.name}: liability {money(location_liability_cents(r, loc))}, "
            f"sold {money(loc.sales.value_cents + loc.sales.top_up_value_cents)}, "
            f"used {money(loc.consumption.consumed_value_cents)}, "
            f"breakage {money(loc.expiries.breakage_cents)}"
            for loc in r.locations
        ]
    audit = r.overruns.latest_audit
    if audit is not None:
        lines.append(
            f"Latest overrun audit ({audit.generated_at:%Y-%m-%d}, visits {audit.window_start} "
            f"to {audit.window_end}): {audit.clients} clients, {audit.excess_sessions} sessions "
            f"over, {money(audit.value_cents)}"
        )
    return "\n".join(lines) + "\n"


# --- the HTML page ---------------------------------------------------------------------
#
# Emailed as the message body, so it is built the way mail clients render: inline styles on
# every element, tables for layout, no scripts, no <style> block; in the email the chart is
# a PNG part (Gmail and Outlook drop inline SVG), on the web page inline SVG. It fits a
# 390 px phone: one column, widths in percent, at most 680 px wide.

_FONT = '-apple-system,"Segoe UI",Helvetica,Arial,sans-serif'
_INK, _MUTED, _RULE, _BAR = "#1d2330", "#5b6472", "#e3e6ea", "#3f6fc4"
_OK, _BAD = "#1f7a3a", "#b3261e"
_LAYOUT = 'role="presentation" cellpadding="0" cellspacing="0" border="0" width="100%"'


def _nowrap(text: str) -> str:
    """Keep a date or an amount on one line (a title must not break "Mar 2")."""
    return f'<span style="white-space:nowrap">{escape(text)}</span>'


def _dates(text: str) -> str:
    """A range's days, each kept whole: "Mon, Mar 2 – Sun, Mar 8, 2026"."""
    return " – ".join(_nowrap(part) for part in text.split(" – "))


def change(now: int, before: int, *, fmt: str = "money") -> tuple[str, str]:
    """ "up $3,500.00" / "down 2" / "no change", and the colour it is shown in (neutral:
    more sold is good, more breakage is not; the words carry the sense)."""
    diff = now - before
    shown = money(abs(diff)) if fmt == "money" else f"{abs(diff):,}"
    if diff == 0:
        return "no change", _MUTED
    return ("up " if diff > 0 else "down ") + shown, _INK


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    figure: str
    detail: str
    delta: tuple[str, str]  # "up $3,500.00", its colour; "" without a previous period
    vs: str


def _ended(report: ReconciliationReport) -> bool:
    return report.period.end <= report.generated_at


def headline_liability_cents(report: ReconciliationReport) -> int:
    """The liability a report leads with (page, email subject, CLI).

    A period already over is headed by the ledger's figure at its end, so the change from
    its start adds up with what it sold, used and expired; today's balance, with later
    entries in, is a detail. A running period is headed by today's balance.
    """
    at_end = report.liability.at_end_cents
    return at_end if at_end is not None and _ended(report) else report.liability.balance_cents


def headlines(report: ReconciliationReport) -> list[Headline]:
    """Liability, sold, consumed, breakage, overruns: the figures read first, each with its
    change from the previous period of the same length."""
    r, p = report, report.previous
    s, c, e, ov = r.sales, r.consumption, r.expiries, r.overruns
    since = f"since {r.period.first_day:%a}, {r.period.first_day:%b} {r.period.first_day.day}"
    before = f"the previous {r.period.noun()}"
    sold = s.value_cents + s.top_up_value_cents
    parts_sold = [f"{s.packages:,} package" + ("" if s.packages == 1 else "s")]
    if s.top_ups:
        parts_sold.append(f"{s.top_ups:,} top-up" + ("" if s.top_ups == 1 else "s"))
    used = [texts.sessions(c.sessions_consumed)] if c.sessions_consumed else []
    if c.credit_redeemed_cents:
        used.append(f"{money(c.credit_redeemed_cents)} of credit")
    refused = ov.refused_visits
    li = r.liability
    liability = headline_liability_cents(r)
    ended = li.at_end_cents is not None and _ended(r)
    last = r.period.last_day
    liability_detail = (
        f"at the end of {last:%a}, {last:%b} {last.day}; today {money(li.balance_cents)} on "
        + _n(li.open_packages, "open package")
        if ended
        else _n(li.open_packages, "open package")
    )
    if r.migrated.packages:
        liability_detail += (
            f"; {money(r.migrated.value_cents)} of it brought in from the old system "
            "(opening balances)"
        )
    items = [
        Headline(
            "liability",
            "Package liability (deferred revenue)",
            money(liability),
            liability_detail,
            change(liability, p.liability_cents) if p else ("", _MUTED),
            f"{since}, when it was {money(p.liability_cents)}" if p else "",
        ),
        Headline(
            "sold",
            "Sold",
            money(sold),
            ", ".join(parts_sold),
            change(sold, p.sales.value_cents + p.sales.top_up_value_cents) if p else ("", _MUTED),
            f"from {money(p.sales.value_cents + p.sales.top_up_value_cents)} {before}" if p else "",
        ),
        Headline(
            "consumed",
            "Used (revenue earned)",
            money(c.consumed_value_cents),
            ", ".join(used) or "nothing redeemed",
            change(c.consumed_value_cents, p.consumption.consumed_value_cents)
            if p
            else ("", _MUTED),
            f"from {money(p.consumption.consumed_value_cents)} {before}" if p else "",
        ),
        Headline(
            "breakage",
            "Breakage (expired unused)",
            money(e.breakage_cents),
            f"{e.packages:,} package" + ("" if e.packages == 1 else "s") + " expired",
            change(e.breakage_cents, p.expiries.breakage_cents) if p else ("", _MUTED),
            f"from {money(p.expiries.breakage_cents)} {before}" if p else "",
        ),
        Headline(
            "overruns",
            "Overruns (used beyond the balance)",
            f"{ov.over_balance_redemptions:,}",
            f"{_n(refused, 'visit')} refused at the desk before running over",
            change(ov.over_balance_redemptions, p.consumption.over_balance, fmt="count")
            if p
            else ("", _MUTED),
            f"from {p.consumption.over_balance:,} {before}" if p else "",
        ),
    ]
    return items


def _headline_rows(report: ReconciliationReport) -> str:
    rows = []
    for h in headlines(report):
        delta, colour = h.delta
        change_line = (
            f'<div style="font-size:13px;color:{colour}" data-change="{h.key}">'
            f"{escape(delta)} {escape(h.vs)}</div>"
            if delta
            else ""
        )
        rows.append(
            f'<tr><td style="padding:12px 0;border-bottom:1px solid {_RULE}" '
            f'data-headline="{h.key}">'
            f'<div style="font-size:13px;color:{_MUTED}">{escape(h.label)}</div>'
            f'<div style="font-size:28px;font-weight:700;line-height:1.2" id="{h.key}">'
            f"{escape(h.figure)}</div>"
            f'<div style="font-size:14px">{escape(h.detail)}</div>{change_line}</td></tr>'
        )
    return f"<table {_LAYOUT}>{''.join(rows)}</table>"


def left_text(sessions: int, credit_cents: int) -> str:
    """What a category has left, in its units: "4 sessions", "$1,250.00 credit", both."""
    parts = []
    if sessions or not credit_cents:
        parts.append(texts.sessions(sessions))
    if credit_cents:
        parts.append(f"{money(credit_cents)} credit")
    return " + ".join(parts)


ChartKind = Literal["svg", "cid", "bars"]
CHART_CID = "reconciliation-chart@punchcard"  # the email's PNG part (Content-ID without <>)


def category_chart(report: ReconciliationReport, chart: ChartKind = "svg") -> str:
    """Unused value by category, largest first. `svg`: matplotlib's drawing inline (the web
    page); `cid`: the same drawing as the email's PNG part (`cid:` link; Gmail and Outlook
    drop inline SVG); `bars`: table cells, for a page built without the plotting library."""
    cats = report.categories
    if not cats:
        return f'<p style="color:{_MUTED}">No open packages: nothing unused.</p>'
    if chart == "svg":
        from activities.reports.chart import chart_svg  # matplotlib loads only when drawing

        return f'<div style="max-width:640px" data-chart="svg">{chart_svg(report) or ""}</div>'
    if chart == "cid":
        from activities.reports.chart import CHART_ALT, CHART_WIDTH_PX

        return (
            f'<img src="cid:{CHART_CID}" id="chart" data-chart="png" width="{CHART_WIDTH_PX}" '
            f'alt="{escape(CHART_ALT)}" style="display:block;width:100%;'
            f'max-width:{CHART_WIDTH_PX}px;height:auto;border:0">'
        )
    return _bars(report)


def _bars(report: ReconciliationReport) -> str:
    """Bars drawn with table cells: one `class="bar"` cell each, its width the share of the
    largest."""
    cats = report.categories
    top = max(max(c.unused_value_cents for c in cats), 1)
    rows = []
    for cat in cats:
        pct = max(round(100 * max(cat.unused_value_cents, 0) / top), 1)
        label = escape(cat.category)
        rest = "" if pct >= 100 else f'<td width="{100 - pct}%" style="font-size:1px">&nbsp;</td>'
        rows.append(
            f'<tr><td style="padding:4px 0;font-size:14px" colspan="2">{label} '
            f'<span style="color:{_MUTED};white-space:nowrap">{escape(money(cat.unused_value_cents))}'
            f"</span></td></tr>"
            f'<tr><td style="padding:0 0 8px 0"><table {_LAYOUT}><tr>'
            f'<td class="bar" data-category="{label}" data-width="{pct}" width="{pct}%" '
            f'bgcolor="{_BAR}" style="background:{_BAR};height:14px;font-size:1px;'
            f'border-radius:3px">&nbsp;</td>{rest}</tr></table></td></tr>'
        )
    return (
        f'<table {_LAYOUT} aria-label="Unused value of open packages by category">'
        f"{''.join(rows)}</table>"
    )


def _table(
    rows: Iterable[Sequence[str]], header: Sequence[str] | None = None, *, testid: str = ""
) -> str:
    """A details table: the first column words, the others figures (right-aligned)."""

    def cell(tag: str, i: int, v: str) -> str:
        align = "right" if i else "left"
        weight = "font-weight:600;" if tag == "th" else ""
        return (
            f'<{tag} style="{weight}text-align:{align};padding:6px 4px;'
            f'border-bottom:1px solid {_RULE};font-size:14px;vertical-align:top">'
            f"{escape(v)}</{tag}>"
        )

    head = (
        "<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>" if header else ""
    )
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    attr = f' data-testid="{testid}"' if testid else ""
    return (
        f'<table cellpadding="0" cellspacing="0" border="0" width="100%" '
        f'style="border-collapse:collapse"{attr}>{head}{body}</table>'
    )


def reason_words(reason: str) -> str:
    """ "refused:ZeroBalance" → "refused, zero balance"; "no_match" → "no match"."""
    head, _, rule = reason.partition(":")
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", rule or head).replace("_", " ").lower()
    return f"{head}, {words}" if rule else words


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def details(report: ReconciliationReport) -> list[tuple[str, list[tuple[str, str]]]]:
    """The period's figures in words, by what happened."""
    r, tz = report, report.period.timezone
    s, c, e, x, o, ov = r.sales, r.consumption, r.expiries, r.cancellations, r.open, r.overruns
    sold = [
        (f"{_n(s.packages, 'package')} sold", money(s.value_cents)),
        ("sessions sold on session packages", f"{s.sessions:,}"),
        ("dollar credit sold (face value)", money(s.credit_cents)),
        (
            f"{_n(s.top_ups, 'top-up')} (+{_n(s.top_up_sessions, 'session')})",
            money(s.top_up_value_cents),
        ),
    ]
    used = [
        (
            f"{_n(c.sessions_redeemed, 'session')} redeemed, {c.sessions_reversed:,} reversed",
            f"{c.sessions_consumed:,} net",
        ),
        ("dollar credit redeemed (net)", money(c.credit_redeemed_cents)),
        ("value used (net)", money(c.consumed_value_cents)),
        (
            f"{_n(c.forfeits, 'no-show or late cancel', 'no-shows and late cancels')} "
            "forfeited by policy",
            money(c.forfeit_value_cents),
        ),
    ]
    closed = [
        (
            f"{_n(e.packages, 'package')} expired with {_n(e.sessions, 'session')} unused",
            money(e.breakage_cents),
        ),
        ("unused dollar credit at expiry", money(e.credit_cents)),
        (f"{_n(x.packages, 'package')} cancelled (refund due)", money(x.refund_due_cents)),
        ("refunded through Stripe", money(x.refunded_cents)),
        ("cancellations undone (Stripe refused the refund)", f"{x.restored:,}"),
    ]
    li = r.liability
    balances = [
        (
            f"{_n(o.session_packages, 'open session package')}",
            texts.sessions(o.sessions_remaining) + " left",
        ),
        (
            f"{_n(o.credit_packages, 'open credit package')}",
            money(o.credit_remaining_cents) + " left",
        ),
        ("liability from the balances", money(li.balance_cents)),
        ("liability recomputed from the ledger", money(li.ledger_cents)),
    ]
    age = r.review.oldest_age_hours(r.generated_at)
    queue = [("open review items", f"{r.review.open_items:,}")]
    if r.review.oldest_at is not None:
        waited = f"{age:g} hours" if age is not None and age < 48 else f"{(age or 0) / 24:.0f} days"
        queue.append(("oldest waiting since", f"{when(r.review.oldest_at, tz)} ({waited})"))
    queue += [(f"open: {reason_words(k)}", f"{n:,}") for k, n in sorted(r.review.by_reason.items())]
    over = [
        ("redemptions over the balance (enforcement off)", f"{ov.over_balance_redemptions:,}"),
        ("completed visits refused at the desk", f"{ov.refused_visits:,}"),
    ]
    over += [(f"refused: {reason_words(k)}", f"{n:,}") for k, n in sorted(ov.by_rule.items())]
    if ov.latest_audit is not None:
        a = ov.latest_audit
        over.append(
            (
                f"latest overrun audit ({a.report_id}, visits {a.window_start} to "
                f"{a.window_end}): {_n(a.clients, 'client')} over by {_n(a.excess_sessions, 'session')}",
                money(a.value_cents),
            )
        )
    m = r.migrated
    brought = [
        (
            f"{_n(m.packages, 'package')} brought in with their opening balance",
            money(m.value_cents),
        ),
        ("sessions left on them", f"{m.sessions:,}"),
        ("dollar credit left on them", money(m.credit_cents)),
    ]
    return [
        ("Sold", sold),
        *([("Brought in (opening balances, not sales)", brought)] if m.packages else []),
        ("Used", used),
        ("Expired and cancelled", closed),
        ("Open balances now", balances),
        ("Review queue", queue),
        ("Overruns", over),
    ]


def by_location(report: ReconciliationReport) -> list[tuple[str, str, str, str, str, str]]:
    """The breakdown's rows, then their total (the report's own figures): location,
    liability, sold, brought in, used, breakage."""
    r = report

    def row(
        name: str, liability: int, sold: int, brought: int, used: int, breakage: int
    ) -> tuple[str, str, str, str, str, str]:
        return (name, money(liability), money(sold), money(brought), money(used), money(breakage))

    rows = [
        row(
            loc.location.name,
            location_liability_cents(r, loc),
            loc.sales.value_cents + loc.sales.top_up_value_cents,
            loc.migrated.value_cents,
            loc.consumption.consumed_value_cents,
            loc.expiries.breakage_cents,
        )
        for loc in r.locations
    ]
    rows.append(
        row(
            "All locations",
            headline_liability_cents(r),
            r.sales.value_cents + r.sales.top_up_value_cents,
            r.migrated.value_cents,
            r.consumption.consumed_value_cents,
            r.expiries.breakage_cents,
        )
    )
    return rows


def _by_location_section(report: ReconciliationReport) -> str:
    """Only for a spa with several locations: a single-location page stays as it was."""
    if not report.locations:
        return ""
    h2 = f'style="font-size:18px;margin:28px 0 8px 0;color:{_INK}"'
    when_ = "at the period's end" if _ended(report) else "today"
    return (
        f"<h2 {h2}>By location</h2>"
        + _table(
            by_location(report),
            ("Location", "Liability", "Sold", "Brought in", "Used", "Breakage"),
            testid="locations",
        )
        + f'<p style="font-size:13px;color:{_MUTED}">Liability {when_}. A package counts at '
        "the location it was sold at (one sold before locations were set up, at the default "
        "location).</p>"
    )


def reconciliation_html(
    report: ReconciliationReport, *, spa_name: str = "Punchcard", chart: ChartKind = "svg"
) -> str:
    """The page; `chart` says how its chart is drawn (see `category_chart`): the web page
    and the stored copy carry SVG, the email body a `cid:` PNG."""
    r, li = report, report.liability
    tz = r.period.timezone
    ok = li.difference_cents == 0
    categories = [
        (
            c.category,
            f"{c.packages:,}",
            left_text(c.sessions, c.credit_cents),
            money(c.unused_value_cents),
        )
        for c in r.categories
    ]
    place = "" if r.location is None else f" · {r.location.name}"
    title = f"{spa_name}{place}: reconciliation, {r.period.title()}"
    scope = (
        ""
        if r.location is None
        else f'<p style="font-size:14px;margin:0 0 12px 0" id="location">{escape(r.location.name)}'
        f" only: its packages, in its time zone. The review queue and refused visits are the "
        f"whole spa's.</p>"
    )
    h2 = f'style="font-size:18px;margin:28px 0 8px 0;color:{_INK}"'
    sections = "".join(
        f'<h3 style="font-size:15px;margin:18px 0 4px 0">{escape(name)}</h3>'
        f"{_table(rows, testid='details-' + name.split()[0].lower())}"
        for name, rows in details(r)
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title></head>
<body style="margin:0;padding:0;background:#ffffff">
<table {_LAYOUT} style="font-family:{_FONT};color:{_INK};line-height:1.4"><tr>
<td align="center" style="padding:16px 12px">
<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="100%"
 style="max-width:680px;font-family:{_FONT};color:{_INK}"><tr><td>
<div style="font-size:14px;color:{_MUTED}">{escape(spa_name + place)} &middot; reconciliation</div>
<h1 style="font-size:22px;line-height:1.25;margin:4px 0 4px 0" id="period">{_dates(r.period.title())}</h1>
<p style="font-size:14px;color:{_MUTED};margin:0 0 12px 0" id="as-of">Whole days in {escape(tz)};
balances as of {_nowrap(when(r.generated_at, tz))}.</p>
{scope}{_headline_rows(r)}
<p style="font-size:14px;margin:10px 0 0 0">Ledger cross-check:
<span style="color:{_OK if ok else _BAD};font-weight:700" id="ledger-check"
 data-status="{"ok" if ok else "bad"}">{escape(agreement(r))}</span>
(balances {escape(money(li.balance_cents))}, ledger {escape(money(li.ledger_cents))}).</p>
{_by_location_section(r)}<h2 {h2}>Unused value by category</h2>
{category_chart(r, chart)}
{_table(categories, ("Category", "Open", "Left", "Unused value"), testid="categories") if r.categories else ""}
<p style="font-size:13px;color:{_MUTED}">A package type covering several categories counts
under its first one.</p>
<h2 {h2}>Details</h2>
{sections}
</td></tr></table>
</td></tr></table>
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
