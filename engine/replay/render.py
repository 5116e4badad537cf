"""A replay ``Report`` as text (a terminal), JSON (a program) or markdown (a pull-request comment).

Pure: the report's JSON form in, a string out. Shares are percentages of the requests for
that requested model or alias; money is exact (``engine.state.money.format_usd``).
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.state.money import format_usd

SHOWN_REFUSED = 20  # refused requests listed in text and markdown (JSON lists every one)


def render(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if fmt == "markdown":
        return markdown(data)
    return text(data)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


def _signed_usd(micros: int) -> str:
    return ("+" if micros >= 0 else "") + format_usd(micros)


def _cost_line(cost: dict[str, Any]) -> str:
    before, after, diff = cost["before_micros"], cost["after_micros"], cost["difference_micros"]
    change = f", {'+' if diff >= 0 else ''}{100 * diff / before:.1f}%" if before else ""
    return f"{format_usd(before)} -> {format_usd(after)} ({_signed_usd(diff)}{change})"


def text(data: dict[str, Any]) -> str:
    total = data["requests"]
    lines = [
        f"replay of {total} recorded requests: {data['before']} -> {data['after']}",
        f"route changes: {data['changed']} ({_pct(data['changed'], total)}) would start on another model or channel",
        f"refused: {data['became_refused']} would become refused or unroutable, "
        f"{data['became_routable']} would become routable",
        f"cost of the recorded tokens: {_cost_line(data['cost'])}",
    ]
    if data["cost"]["unpriced_after"]:
        lines.append(f"  ({data['cost']['unpriced_after']} of them on unpriced models, counted as $0)")
    if data["requested"]:
        lines.append("")
        lines.append("per requested model or alias (share of its requests, before -> after):")
    for share in data["requested"]:
        n = share["requests"]
        lines.append(
            f"  {share['requested']}: {n} requests, {share['changed']} changed, "
            f"{format_usd(share['cost_before_micros'])} -> {format_usd(share['cost_after_micros'])}"
        )
        width = max(len(m["model"]) for m in share["models"])
        for m in share["models"]:
            lines.append(f"    {m['model']:<{width}}  {_pct(m['before'], n):>6} -> {_pct(m['after'], n):>6}")
    if data["top_changes"]:
        lines.append("")
        lines.append("top changes:")
        for change in data["top_changes"]:
            lines.append(f"  {change['requests']:>6}  {change['requested']}: {change['from']} -> {change['to']}")
    if data["refused"]:
        lines.append("")
        lines.append("would be refused:")
        for r in data["refused"][:SHOWN_REFUSED]:
            lines.append(f"  {r['request_id']} ({r['requested']}, was {r['before']}): {r['status']} {r['code']}")
        if len(data["refused"]) > SHOWN_REFUSED:
            lines.append(f"  ... and {len(data['refused']) - SHOWN_REFUSED} more (--format json lists every one)")
    if data["notes"]:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in data["notes"])
    return "\n".join(lines)


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(data: dict[str, Any]) -> str:
    total = data["requests"]
    lines = [
        f"### Turnout replay: `{data['before']}` → `{data['after']}`",
        "",
        f"Replayed **{total}** recorded requests (no upstream called).",
        "",
        "| | |",
        "|---|---|",
        f"| Route changes (first candidate) | **{data['changed']}** ({_pct(data['changed'], total)}) |",
        f"| Would become refused or unroutable | **{data['became_refused']}** |",
        f"| Would become routable | {data['became_routable']} |",
        f"| Cost of the recorded tokens | {_cost_line(data['cost'])} |",
    ]
    if data["cost"]["unpriced_after"]:
        lines.append(f"| Requests to unpriced models (counted as $0) | {data['cost']['unpriced_after']} |")
    if data["requested"]:
        lines += ["", "#### Model shares per requested model or alias", ""]
        lines += ["| Requested | Model | Before | After | Cost before | Cost after |", "|---|---|--:|--:|--:|--:|"]
        for share in data["requested"]:
            n = share["requests"]
            for i, m in enumerate(share["models"]):
                first = i == 0
                lines.append(
                    f"| {_cell(share['requested']) + f' ({n})' if first else ''} | {_cell(m['model'])} "
                    f"| {_pct(m['before'], n)} | {_pct(m['after'], n)} "
                    f"| {format_usd(share['cost_before_micros']) if first else ''} "
                    f"| {format_usd(share['cost_after_micros']) if first else ''} |"
                )
    if data["top_changes"]:
        lines += ["", "#### Top changes", "", "| Requests | Requested | From | To |", "|--:|---|---|---|"]
        for c in data["top_changes"]:
            lines.append(f"| {c['requests']} | {_cell(c['requested'])} | `{c['from']}` | `{c['to']}` |")
    if data["refused"]:
        lines += ["", f"<details><summary>{len(data['refused'])} requests would be refused</summary>", ""]
        lines += ["| Request | Requested | Was | Status | Why |", "|---|---|---|--:|---|"]
        for r in data["refused"][:SHOWN_REFUSED]:
            lines.append(
                f"| `{_cell(r['request_id'])}` | {_cell(r['requested'])} | `{r['before']}` | {r['status']} "
                f"| {_cell(r['code'])}: {_cell(r['message'])} |"
            )
        if len(data["refused"]) > SHOWN_REFUSED:
            lines.append(f"| … | {len(data['refused']) - SHOWN_REFUSED} more | | | |")
        lines += ["", "</details>"]
    if data["notes"]:
        lines += ["", "<sub>", *(f"Note: {note}<br>" for note in data["notes"]), "</sub>"]
    return "\n".join(lines)
