"""`registervard audit`: check the audit trail's hash chain, and show a customer's history to an auditor.

`audit show` prints the customer's events with their facts, personal data
included: it is for auditors at a screen. Nothing of it goes to the logs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from events import codec
from events.catalog import SealedPersonalData
from events.jsonlines import to_json
from events.sealing import personal_fields, unseal
from projections.audit import AuditRow, canonical_time, iter_rows, verify_chain
from registervard import exit_codes
from registervard.bootstrap import Services, bootstrap
from registervard.console import advise_on_failure, console, errors

app = typer.Typer(help="The tamper-evident audit trail of every event.", no_args_is_help=True)

_ENVELOPE_KEYS = {"type", "event_id", "customer_id", "occurred_at", "recorded_at", "source", "correlation_id", "causation_id", "schema_version"}


@app.command("verify")
@advise_on_failure
def verify(chunk_size: Annotated[int, typer.Option(help="Entries read per query.")] = 1000) -> None:
    """Recompute every entry's hash and link; exit 3 naming the first entry that breaks the chain (1 is an error)."""
    with Session(bootstrap().engine) as session:
        result = verify_chain(session, chunk_size=chunk_size)
    if result.intact:
        console.print(f"Audit trail intact: {result.entries} entries")
        return
    errors.print(f"[red]Audit trail broken at entry {result.broken_seq}[/red] ({result.problem}): {result.reason}.")
    errors.print(
        f"Entries 1 to {(result.broken_seq or 1) - 1} verify; do not trust entry {result.broken_seq} or any after it. "
        "The event log in Kafka is the original: compare the entry with the log message at its topic, partition and offset, "
        "find out who had write access to the database, and keep a copy of the database as it is now before anything is repaired."
    )
    raise typer.Exit(exit_codes.ANSWER_NO)


@app.command("show")
@advise_on_failure
def show(
    customer_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines, one entry each, instead of a table.")] = False,
) -> None:
    """A customer's full history from the audit trail: every event in log order, what caused it, and its facts."""
    services = bootstrap()
    with Session(services.engine) as session:
        query = select(AuditRow).where(AuditRow.customer_id == customer_id)
        entries = [_entry(row, services) for row in iter_rows(session, query=query)]
        causes = _causes(session, {e["causation_id"] for e in entries if e["causation_id"]})
    if not entries:
        errors.print(
            f"[red]Error:[/red] No entries for customer {customer_id} in the audit trail. "
            "Check the id, or whether the audit projection is running (registervard project)."
        )
        raise typer.Exit(exit_codes.ERROR)
    for entry in entries:
        entry["caused_by"] = causes.get(entry["causation_id"]) if entry["causation_id"] else None
    if as_json:
        for entry in entries:
            console.out(json.dumps(entry, ensure_ascii=False, default=str), highlight=False)
        return
    table = Table(title=f"Audit trail of {customer_id}", show_lines=True)
    for column in ("seq", "occurred", "recorded", "event", "source", "caused by", "facts"):
        table.add_column(column, overflow="fold")
    for e in entries:
        event = e["event_type"] + (f"\n(duplicate of {e['duplicate_of_seq']})" if e["duplicate_of_seq"] else "")
        caused_by = e["caused_by"] or (f"event {e['causation_id']}" if e["causation_id"] else "")
        table.add_row(str(e["seq"]), e["occurred_at"], e["recorded_at"], event, e["source"], caused_by, _summary(e["facts"]))
    console.print(table)
    console.print(f"{len(entries)} entries. `registervard audit verify` checks that none was changed.")


def _entry(row: Any, services: Services) -> dict[str, Any]:
    try:  # opening the key store may fail as well: the entry is still shown, its facts not readable
        event = unseal(codec.decode(row.payload), services.keys)  # the stored bytes stay as they are
        document = json.loads(to_json(event))
        facts: Any = {k: v for k, v in document.items() if k not in _ENVELOPE_KEYS}
        for field in personal_fields(event):
            if isinstance(getattr(event, field), SealedPersonalData):
                facts[field] = "(erased: the customer's key was destroyed)"
    except Exception as error:  # an entry is shown even when its bytes cannot be read (unknown schema, ciphertext)
        facts = f"(payload not readable: {type(error).__name__})"
    return {
        "seq": row.seq,
        "occurred_at": _time(row.occurred_at),
        "recorded_at": _time(row.recorded_at),
        "event_type": row.event_type,
        "event_id": row.event_id,
        "source": row.source,
        "causation_id": row.causation_id,
        "correlation_id": row.correlation_id,
        "duplicate_of_seq": row.duplicate_of_seq,
        "log_position": f"{row.topic}[{row.partition}]@{row.offset}",
        "facts": facts,
    }


def _causes(session: Session, event_ids: set[str]) -> dict[str, str]:
    """For each causing event id, its type and the seq of its first entry, e.g. `CustomerDeceased (#12)`."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(AuditRow.event_id, AuditRow.event_type, AuditRow.seq).where(AuditRow.event_id.in_(sorted(event_ids))).order_by(AuditRow.seq)
    )
    found: dict[str, str] = {}
    for event_id, event_type, seq in rows:
        found.setdefault(event_id, f"{event_type} (#{seq})")
    return found


def _time(moment: Any) -> str:
    return canonical_time(moment)[:-8] + "Z"  # to the second, UTC


def _summary(facts: Any, prefix: str = "") -> str:
    """Facts as `key: value` lines, nested records flattened with dots."""
    if not isinstance(facts, dict):
        return str(facts)
    lines = []
    for key, value in facts.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            lines.append(_summary(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            lines.append(f"{prefix}{key}: {', '.join(str(v) for v in value)}")
        else:
            lines.append(f"{prefix}{key}: {value}")
    return "\n".join(line for line in lines if line)
