"""The `registervard` command line: the app and its groups, assembled from the commands in `registervard/commands/`.

Nothing else lives here: the commands are in `commands/`, what they print with
and how they fail in `console.py`, what they connect to in `bootstrap.py`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from registervard import bootstrap
from registervard import logging_setup as logs
from registervard.commands import (
    apikeys,
    audit_commands,
    contact,
    deadletter_commands,
    demo_command,
    duplicates_command,
    erase,
    export_command,
    extract_command,
    find_command,
    health_command,
    importer,
    nix,
    projection_commands,
    publish_command,
    register_commands,
    replay_command,
    serve,
    service,
    spar_command,
    wash_command,
    worker_state_command,
)

app = typer.Typer(
    help="Registervård keeps a customer register correct, lawful and contactable.",
    epilog="Exit status: 0 done; 1 an error (advice on standard error); 2 the command line was not understood; "
    "3 the answer is no (contact check, audit verify); 4 done, but some input was refused (each named on standard error).",
    no_args_is_help=True,
)
customer_app = typer.Typer(help="Look up customers in the register.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.callback()
def main(ctx: typer.Context, log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "WARNING") -> None:
    logs.configure(log_level.upper())
    ctx.call_on_close(bootstrap.close)  # the command's engine goes when the command ends, however it ends


# In the order `registervard --help` lists them.
app.add_typer(customer_app, name="customer")
app.add_typer(topics_app, name="topics")
app.add_typer(demo_app, name="demo")
topics_app.command("create")(service.topics_create)
app.command()(publish_command.publish)
app.command()(service.worker)
app.add_typer(worker_state_command.app, name="worker-state")
app.command()(service.project)
app.command()(register_commands.status)
app.command("health")(health_command.health_command)
app.command("quarantine")(register_commands.quarantine)
customer_app.command("show")(register_commands.customer_show)
customer_app.command("contacts")(register_commands.customer_contacts)
customer_app.command("find")(find_command.customer_find)
app.add_typer(duplicates_command.app, name="duplicates")
demo_app.command("generate")(demo_command.demo_generate)
app.command("import")(importer.import_command)
app.command("wash")(wash_command.wash_command)
app.add_typer(nix.app, name="nix")
app.add_typer(spar_command.app, name="spar")
app.command("export")(export_command.export_command)
app.command("extract")(extract_command.extract_command)
app.add_typer(replay_command.replay_app, name="replay")
app.add_typer(projection_commands.projections_app, name="projections")
app.add_typer(contact.app, name="contact")
app.add_typer(deadletter_commands.app, name="deadletters")
app.add_typer(audit_commands.app, name="audit")
app.command("erase")(erase.erase_command)
app.add_typer(erase.retention_app, name="retention")
app.add_typer(apikeys.app, name="apikeys")
app.command("serve")(serve.serve)
