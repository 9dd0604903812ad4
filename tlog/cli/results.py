"""How the writing commands print what became of their inputs and the new checkpoint.

``sequence`` and ``submit`` print one line per input (:func:`print_outcome`);
``sequence`` and ``upload`` then print the published checkpoint
(:func:`print_checkpoint`). Text is for people; ``--format json`` prints one object a
line, with the same facts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import click

from tlog.admission import Outcome
from tlog.cli.app import printable
from tlog.sequencer import Result


def print_outcome(outcome: Outcome, fmt: str) -> None:
    """One line for one input; reasons may quote hostile input, so print them safely."""
    click.echo(outcome_line(outcome, fmt))


def print_outcomes(outcomes: Iterable[Outcome], fmt: str) -> None:
    """:func:`print_outcome` of each, written together (per line, click's checks and
    flush cost more than the line, and a chunk has tens of thousands)."""
    if fmt == "json":
        text = "\n".join([_outcome_text(o, fmt) for o in outcomes])
    else:  # the common line inlined (a call per line costs as much as the line)
        text = "\n".join(
            [
                f"{s}: index {i} uuid {u}"
                if e is None and i is not None and not d
                else _outcome_text(Outcome(s, i, u, e, d), fmt)
                for s, i, u, e, d in outcomes
            ]
        )
    if text:
        click.echo(printable(text))  # character by character: as line by line


def outcome_line(outcome: Outcome, fmt: str) -> str:
    """The line :func:`print_outcome` prints."""
    return printable(_outcome_text(outcome, fmt))


def _outcome_text(outcome: Outcome, fmt: str) -> str:
    """:func:`outcome_line` before it is made safe to print."""
    if fmt == "json":
        doc: dict[str, object] = {"source": outcome.source}
        if outcome.ok:
            doc.update(index=outcome.log_index, uuid=outcome.uuid, duplicate=outcome.duplicate)
        else:
            doc["error"] = outcome.error
        return json.dumps(doc, sort_keys=True)
    if outcome.ok and outcome.log_index is None:
        return f"{outcome.source}: already logged by another run, uuid {outcome.uuid}"
    if outcome.ok:
        dup = " (duplicate: already at that index)" if outcome.duplicate else ""
        return f"{outcome.source}: index {outcome.log_index} uuid {outcome.uuid}{dup}"
    return f"{outcome.source}: refused: {outcome.error}"


def checkpoint_doc(result: Result) -> dict[str, object]:
    """The published checkpoint as JSON: the signed note, size, root, integrated time,
    and ``recovered`` (the size of another run's batch this run published, or null)."""
    cp = result.checkpoint.checkpoint
    return {
        "checkpoint": result.note.decode(),
        "size": cp.size,
        "root": cp.root.hex(),
        "timestamp": result.checkpoint.timestamp,
        "recovered": result.recovered,
    }


def print_checkpoint(result: Result, fmt: str) -> None:
    """The published checkpoint (text: the signed note; json: one object)."""
    if fmt == "json":
        click.echo(json.dumps(checkpoint_doc(result), sort_keys=True))
        return
    if result.recovered is not None:
        click.echo(
            "recovered: published a batch that another sequencer committed "
            f"(size {result.recovered})"
        )
    click.echo(result.note.decode(), nl=False)
