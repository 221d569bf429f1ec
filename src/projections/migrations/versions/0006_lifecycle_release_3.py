"""The lifecycle facts of schema release 3: return from abroad, deregistration with a cause, opt-outs, contact persons who left.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('company_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_on', sa.Date(), nullable=True))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('immigrated_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deregistered_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('deregistration_cause', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('contact_person_for', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('marketing_opt_outs', sa.String(length=64), nullable=True))

    # The two new columns that existing customers may already have values for, taken from what the register holds:
    # every company_contacts row is a current role before this revision, and the fold's state lists the opt-outs
    # (sorted: the state stores sets sorted). Immigration and deregistration came with release 3: nobody has them yet.
    op.execute(
        "UPDATE customers SET contact_person_for = "
        "(SELECT MIN(company_id) FROM company_contacts WHERE company_contacts.contact_id = customers.customer_id)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE customers SET marketing_opt_outs = "
            "(SELECT string_agg(channel, ',' ORDER BY channel) FROM customer_state, json_array_elements_text(customer_state.state -> 'opted_out') AS channel "
            "WHERE customer_state.customer_id = customers.customer_id)"
        )
    else:
        op.execute(
            "UPDATE customers SET marketing_opt_outs = "
            "(SELECT group_concat(value, ',') FROM customer_state, json_each(customer_state.state, '$.opted_out') "
            "WHERE customer_state.customer_id = customers.customer_id)"
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('marketing_opt_outs')
        batch_op.drop_column('contact_person_for')
        batch_op.drop_column('deregistration_cause')
        batch_op.drop_column('deregistered_on')
        batch_op.drop_column('immigrated_on')

    with op.batch_alter_table('company_contacts', schema=None) as batch_op:
        batch_op.drop_column('left_on')
