"""Revision 0006 on SQLite and PostgreSQL: a register of revision 0005 keeps what it knew of contact persons and opt-outs."""

from __future__ import annotations

import json

import sqlalchemy
from alembic import command

from projections import migrations


def test_an_upgraded_register_fills_the_new_columns_from_what_it_already_held(database_url):
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.begin() as connection:
            cfg = migrations.config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "0005")
            for customer_id, opted_out in (("C-KARIN", ["EMAIL", "POST"]), ("C-CO", []), ("C-ANNA", ["ANY"])):
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO customers (customer_id, status, protected, active_consents, nix_registered, events_applied) "
                        "VALUES (:c, 'ACTIVE', false, 0, false, 1)"
                    ),
                    {"c": customer_id},
                )
                state = {"customer_id": customer_id, "opted_out": opted_out}
                connection.execute(
                    sqlalchemy.text("INSERT INTO customer_state (customer_id, state) VALUES (:c, :s)"), {"c": customer_id, "s": json.dumps(state)}
                )
            connection.execute(sqlalchemy.text("INSERT INTO company_contacts (company_id, contact_id) VALUES ('C-CO', 'C-KARIN')"))
        with engine.begin() as connection:
            cfg = migrations.config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text(
                    "SELECT customer_id, contact_person_for, marketing_opt_outs, immigrated_on, deregistered_on FROM customers ORDER BY customer_id"
                )
            ).all()
            contacts = connection.execute(sqlalchemy.text("SELECT company_id, contact_id, left_on FROM company_contacts")).all()
        assert [tuple(row) for row in rows] == [
            ("C-ANNA", None, "ANY", None, None),
            ("C-CO", None, None, None, None),
            ("C-KARIN", "C-CO", "EMAIL,POST", None, None),
        ]
        assert [tuple(row) for row in contacts] == [("C-CO", "C-KARIN", None)], "every contact person of revision 0005 is a current one"
    finally:
        engine.dispose()
