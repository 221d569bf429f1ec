"""`registervard apikeys create / list / revoke`: keys for the HTTP API (registervard.api)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from registervard.api.api_keys import create_key, list_keys, revoke_key
from registervard.api.roles import ROLE_ENDPOINTS, ROLES
from registervard.bootstrap import bootstrap
from registervard.console import advise_on_failure, console, errors, fail
from registervard.listings import folded, whole

app = typer.Typer(help="API keys for the HTTP API: create (shown once), list, revoke.", no_args_is_help=True)


@app.command("create")
@advise_on_failure
def create(
    name: Annotated[str, typer.Argument(help="Who holds the key, e.g. the downstream system; it names the recipient of every disclosure.")],
    role: Annotated[str, typer.Option(help=f"What the key may call: {', '.join(ROLES)} (any case).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (key_id, name, role, key).")] = False,
) -> None:
    """Create a key for NAME with ROLE and print it, once: only its SHA-256 is stored."""
    role = role.lower()  # roles are written in lower case; any case names the same one
    if role not in ROLES:  # a value the option does not take: a usage error, as a choice the command line refuses
        raise typer.BadParameter(f"{role!r} is not a role; choose from {', '.join(ROLES)}", param_hint="--role")
    try:
        facts, key = create_key(bootstrap().engine, name, role)
    except ValueError as error:
        fail(str(error))
    if as_json:
        print(json.dumps({"key_id": facts.key_id, "name": facts.name, "role": facts.role, "key": key}))
        return
    print(key)
    errors.print(
        f"Created API key {facts.key_id} for {facts.name!r} with role {facts.role} "
        f"({', '.join(sorted(ROLE_ENDPOINTS[facts.role]))}). The key above is shown only this once: "
        "store it now. Send it as `Authorization: Bearer <key>`.",
        highlight=False,
    )


@app.command("list")
@advise_on_failure
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every key's id, name, role, and when it was created and revoked; never the key."""
    keys = list_keys(bootstrap().engine)
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "key_id": k.key_id,
                        "name": k.name,
                        "role": k.role,
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in keys
                ]
            )
        )
        return
    if not keys:
        console.print("No API keys. Create one with `registervard apikeys create NAME --role ROLE`.")
        return
    # The key id whole: `apikeys revoke` takes it as shown. The name and the times wrap instead.
    table = Table(
        whole("key id", [k.key_id for k in keys]),
        folded("name", ratio=1),
        whole("role", [k.role for k in keys]),
        folded("created"),
        folded("revoked"),
        box=box.SIMPLE_HEAD,
    )
    for k in keys:
        table.add_row(k.key_id, escape(k.name), k.role, f"{k.created_at:%Y-%m-%d %H:%M}", f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@app.command("revoke")
@advise_on_failure
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, as `apikeys list` shows it.")]) -> None:
    """Revoke a key: from the next request on, it gets 401."""
    facts = revoke_key(bootstrap().engine, key_id)
    if facts is None:
        fail(f"No API key {key_id}. `registervard apikeys list` shows the key ids.")
    console.print(f"API key {facts.key_id} ({facts.name}, {facts.role}) is revoked since {facts.revoked_at:%Y-%m-%d %H:%M:%S} UTC.")
