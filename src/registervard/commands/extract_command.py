"""`registervard extract`: a person's register extract (GDPR Art. 15) as JSON or HTML (projections/extract.py).

In Swedish, or English with `--lang en`. The controller's details come from the
settings (REGISTERVARD_CONTROLLER_*, REGISTERVARD_DPO_EMAIL); when one is not
set the extract says so in its place and this command warns on standard error.
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
from events.settings import Settings
from projections.export import record_disclosures
from projections.extract import build_extract, render_html, to_json
from projections.extract_art15 import Controller
from registervard.bootstrap import Services, bootstrap
from registervard.commands.time_axes import KnownAt, ValidAt, moment_option
from registervard.console import advise_on_failure, errors


class Format(StrEnum):
    json = "json"
    html = "html"


class Language(StrEnum):
    sv = "sv"
    en = "en"


@advise_on_failure
def extract_command(
    customer_id: Annotated[str, typer.Argument(help="The customer's opaque id.")],
    format_: Annotated[Format, typer.Option("--format", case_sensitive=False, help="json or html.")] = Format.json,
    lang: Annotated[Language, typer.Option("--lang", case_sensitive=False, help="sv (Swedish) or en (English).")] = Language.sv,
    output: Annotated[Path | None, typer.Option(help="The file to write; default standard output.")] = None,
    record: Annotated[bool, typer.Option(help="Record the extract as a disclosure to the data subject (channel 'extract').")] = True,
    valid_at: ValidAt = None,
    known_at: KnownAt = None,
) -> None:
    """Everything the register holds about CUSTOMER_ID, and what GDPR Art. 15 says they must be told (controller,
    purposes, categories, recipients, storage period, rights, IMY); now, or as it stood at --valid-at as the register
    knew it at --known-at. In Swedish, or English with --lang en."""
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
            language=lang.value,
            controller=controller(services.settings),
            retention_years=services.settings.retention_years,
        )
    if extract is None:
        errors.print(
            f"[red]Error:[/red] The register holds nothing about {customer_id}. "
            "Check the id, or whether the projections are running (registervard project)."
        )
        raise typer.Exit(1)
    if extract["controller"]["missing"]:
        errors.print(
            f"[yellow]Warning:[/yellow] the controller's details are not set ({', '.join(extract['controller']['missing'])}): "
            "the extract says so in their place. Set them (README, Settings) before the extract is given out."
        )
    if extract["data"] and extract["data"]["protected_identity"]:
        errors.print(f"[yellow]Note:[/yellow] {customer_id} has a protected identity: the extract holds their name and address; give it to them alone.")
    text = render_html(extract) if format_ is Format.html else to_json(extract) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        errors.print(f"Register extract of {customer_id} written to {output}.")
    if record:
        with Session(engine) as session, session.begin():
            record_disclosures(session, [customer_id], recipient="the data subject", channel="extract", purpose="register extract (GDPR Art. 15)", at=moment)


def controller(settings: Settings) -> Controller:
    """The controller's identity and contact details, and its data protection officer's, from the settings."""
    return Controller(name=settings.controller_name, address=settings.controller_address, email=settings.controller_email, dpo_email=settings.dpo_email)


def _keys(services: Services) -> KeyStore | None:
    """The customers' data keys, to unseal the audit trail's payloads; None when they cannot be opened."""
    try:
        return services.keys
    except Exception as error:  # no master key configured: history facts stay sealed, and the extract says so
        errors.print(f"[yellow]Note:[/yellow] the data keys are not available ({type(error).__name__}); sealed history facts are shown as not readable.")
        return None
