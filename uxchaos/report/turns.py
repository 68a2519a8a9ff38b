"""The services' turns per action, as the report's sentences and table cells."""

from __future__ import annotations

from uxchaos.analysis.turns import ServiceTurns

TURNS_INTRO = ("Per action, the request → answer turns each service behind a fault proxy took (median over "
               "the attempts; a turn is the client sending and the service answering, whatever the protocol). "
               "A delay added to every answer of a service slows an action by its turns × the delay.")


def turns_cell(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def turns_sentence(row: ServiceTurns) -> str:
    """ "Logging in: 11 database turns × 2.000 s = 22.0 s of its +22.4 s slowdown" """
    during = turns_cell(row.turns.get("during"))
    text = f"{row.action}: {during} {row.service} turn{'' if during == '1' else 's'}"
    if row.per_turn_s is not None and row.explained_s is not None:
        text += f" × {row.per_turn_s:.3f} s = {row.explained_s:.1f} s"
        if row.slowdown_s is not None:
            text += f" of its {row.slowdown_s:+.1f} s slowdown"
    return text


def turns_rows(rows: list[ServiceTurns]) -> list[list[str]]:
    """Table rows: action, service, turns before / during / after, per turn, explained, slowdown."""
    return [[r.action, r.service, turns_cell(r.turns.get("before")), turns_cell(r.turns.get("during")),
             turns_cell(r.turns.get("after")), "–" if r.per_turn_s is None else f"{r.per_turn_s:.3f}",
             "–" if r.explained_s is None else f"{r.explained_s:.3f}",
             "–" if r.slowdown_s is None else f"{r.slowdown_s:+.3f}"] for r in rows]
