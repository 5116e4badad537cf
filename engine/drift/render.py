"""A drift report as text (a terminal), JSON (a program) or markdown (a pull-request comment).

Pure: the report's JSON form (``engine.drift.report.build``) in, a string out. Money is
exact micro-dollars (``engine.state.money.format_usd``); a ``*`` marks a flagged row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from engine.state.money import format_usd

REASONS_SHOWN = 3


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if fmt == "markdown":
        return markdown(data)
    return text(data)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _signed_pct(share: float | None) -> str:
    return "-" if share is None else f"{'+' if share >= 0 else ''}{100 * share:.1f}%"


def _versions(data: dict[str, Any]) -> str:
    return ", ".join(
        f"{v['version'][:12]}{' (current)' if v['current'] else ' (canary)' if v['canary'] else ''} {v['requests']}"
        for v in data["policy_versions"]
    )


def _reasons(reasons: dict[str, int]) -> str:
    shown = [f"{name} x{n}" for name, n in list(reasons.items())[:REASONS_SHOWN]]
    return ", ".join(shown) + (", ..." if len(reasons) > REASONS_SHOWN else "")


def _channel_cells(c: dict[str, Any]) -> list[str]:
    name = c["channel"] + ("" if c["in_policy"] else " (not in the policy)")
    return [name, str(c["attempts"]), str(c["failed"]), _pct(c["failed_share"]), _reasons(c["reasons"])]


def _cost_cells(c: dict[str, Any]) -> list[str]:
    prompt, output = c["prompt_tokens"], c["output_tokens"]
    return [
        c["model"], str(c["requests"]), format_usd(c["observed_mean_micros"]), format_usd(c["estimated_mean_micros"]),
        _signed_pct(c["drift"]), f"{prompt['estimated_mean']} / {prompt['actual_mean']}",
        f"{output['assumed_mean']} / {output['actual_mean']}",
    ]  # fmt: skip


CHANNEL_HEADER = ["CHANNEL", "ATTEMPTS", "FAILED", "SHARE", "WHY THEY FAILED"]
COST_HEADER = ["MODEL", "REQUESTS", "OBSERVED", "ESTIMATED", "DRIFT", "PROMPT EST / ACTUAL", "OUTPUT CAP / ACTUAL"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], flagged: Sequence[bool]) -> list[str]:
    marked = [[("* " if flag else "  ") + row[0], *row[1:]] for row, flag in zip(rows, flagged, strict=True)]
    cells = [["  " + header[0], *header[1:]], *marked]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _channels(data: dict[str, Any]) -> tuple[str, list[list[str]], list[bool]]:
    limits = data["thresholds"]
    title = f"{limits['min_attempts']} attempts, {_pct(limits['failover_share'])} failed"
    return title, [_channel_cells(c) for c in data["channels"]], [c["flagged"] for c in data["channels"]]


def _costs(data: dict[str, Any]) -> tuple[str, list[list[str]], list[bool]]:
    title = f"off by more than {_pct(data['thresholds']['cost_tolerance'])}"
    return title, [_cost_cells(c) for c in data["costs"]], [c["flagged"] for c in data["costs"]]


def text(data: dict[str, Any]) -> str:
    window, policy = data["window"], data["policy"]
    lines = [
        f"drift of {policy['directory']} (policy {policy['version'][:12]}) from {window['since']} to {window['until']}",
        f"requests: {data['requests']} ({data['attempts']} attempts); policy versions: {_versions(data) or '-'}",
        f"flagged: {data['flagged']}",
        "",
        f"rules never matched: {len(data['unmatched_rules']) or 'none'}",
    ]
    for r in data["unmatched_rules"]:
        where = f" ({r['location']})" if r["location"] else ""
        lines.append(f"  * {r['alias']}#{r['rule']}: {r['when']}{where}")
    lines += ["", "no traffic:"]
    for kind, names in data["no_traffic"].items():
        lines.append(f"  {kind}: {', '.join(f'* {n}' for n in names) if names else 'none'}")
    title, rows, flagged = _channels(data)
    lines += ["", f"channels (flagged: at least {title}):"]
    lines += _table(CHANNEL_HEADER, rows, flagged) if rows else ["  no attempts"]
    title, rows, flagged = _costs(data)
    lines += ["", f"cost per request, observed vs the policy's estimate (flagged: {title}):"]
    lines += _table(COST_HEADER, rows, flagged) if rows else ["  no served request the policy can estimate"]
    if data["notes"]:
        lines += ["", "notes:", *(f"  - {note}" for note in data["notes"])]
    lines += ["", f"how: {data['definition']}"]
    return "\n".join(lines)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], flagged: Sequence[bool]) -> list[str]:
    out = ["| | " + " | ".join(h.capitalize() for h in header) + " |", "|---" * (len(header) + 1) + "|"]
    for row, flag in zip(rows, flagged, strict=True):
        out.append(f"| {'⚠️' if flag else ''} | " + " | ".join(_cell(c) for c in row) + " |")
    return out


def markdown(data: dict[str, Any]) -> str:
    window, policy = data["window"], data["policy"]
    lines = [
        f"### Turnout drift: `{policy['directory']}` (policy `{policy['version'][:12]}`)",
        "",
        f"**{data['requests']}** requests ({data['attempts']} attempts) from {window['since']} to {window['until']}; "
        f"policy versions: {_versions(data) or '-'}. **{data['flagged']}** flagged.",
    ]
    if data["unmatched_rules"]:
        lines += ["", "#### Rules never matched", "", "| Rule | When | Where |", "|---|---|---|"]
        for r in data["unmatched_rules"]:
            lines.append(f"| `{r['alias']}#{r['rule']}` | `{_cell(r['when'])}` | {_cell(r['location'] or '')} |")
    if any(data["no_traffic"].values()):
        lines += ["", "#### No traffic", ""]
        for kind, names in data["no_traffic"].items():
            if names:
                lines.append(f"- {kind.capitalize()}: {', '.join(f'`{n}`' for n in names)}")
    title, rows, flagged = _channels(data)
    if rows:
        lines += ["", f"#### Channels (flagged: at least {title})", "", *_md_table(CHANNEL_HEADER, rows, flagged)]
    title, rows, flagged = _costs(data)
    if rows:
        lines += ["", f"#### Cost per request vs the policy's estimate (flagged: {title})", ""]
        lines += _md_table(COST_HEADER, rows, flagged)
    lines += [
        "",
        "<sub>",
        *(f"Note: {_cell(note)}<br>" for note in data["notes"]),
        f"How: {_cell(data['definition'])}",
        "</sub>",
    ]
    return "\n".join(lines)
