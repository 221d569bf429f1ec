"""`registervard extract`: a person's register extract (GDPR Art. 15) as JSON or HTML (projections/extract.py).

The extract holds personal data: it goes to the file or the terminal, never to the logs.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from events.sealing import KeyStore
from projections.export import record_disclosures
from projections.extract import build_extract, render_html, to_json
from registervard.bootstrap import Services, bootstrap
from registervard.commands.time_axes import KnownAt, ValidAt, moment_option
from registervard.console import advise_on_failure, errors


class Format(StrEnum):
    json = "json"
    html = "html"


@advise_on_failure
def extract_command(
    customer_id: Annotated[str, typer.Argument(help="The customer's opaque id.")],
    format_: Annotated[Format, typer.Option("--format", case_sensitive=False, help="json or html.")] = Format.json,
    output: Annotated[Path | None, typer.Option(help="The file to write; default standard output.")] = None,
    record: Annotated[bool, typer.Option(help="Record the extract as a disclosure to the data subject (channel 'extract').")] = True,
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
) -> None:
    """Everything the register holds about CUSTOMER_ID: data, sources and history, consents, NIX status, recipients;
    now, or as it stood at --valid-at as the register knew it at --known-at."""
    asked_valid, asked_known = moment_option("--valid-at", valid_at), moment_option("--known-at", known_at)
    services = bootstrap()
    moment = datetime.now(UTC)
    engine = services.engine
    with Session(engine) as session:
        extract = build_extract(
            session,
            customer_id,
            downstream_topic=services.settings.customers_topic,
            now=moment,
            keys=_keys(services),
            valid_at=asked_valid,
            known_at=asked_known,
        )
    if extract is None:
        errors.print(
            f"[red]Error:[/red] The register holds nothing about {customer_id}. "
            "Check the id, or whether the projections are running (registervard project)."
        )
        raise typer.Exit(1)
    text = render_html(extract) if format_ is Format.html else to_json(extract) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"Register extract of {customer_id} written to {output}.")
    if record:
        with Session(engine) as session, session.begin():
            record_disclosures(session, [customer_id], recipient="the data subject", channel="extract", purpose="register extract (GDPR Art. 15)", at=moment)


def _keys(services: Services) -> KeyStore | None:
    """The customers' data keys, to unseal the audit trail's payloads; None when they cannot be opened."""
    try:
        return services.keys
    except Exception as error:  # no master key configured: history facts stay sealed, and the extract says so
        errors.print(f"[yellow]Note:[/yellow] the data keys are not available ({type(error).__name__}); sealed history facts are shown as not readable.")
        return None
