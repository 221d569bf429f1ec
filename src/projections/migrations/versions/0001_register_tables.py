"""The register's tables: current register, histories, consents, NIX, contact persons, outbox, offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The first revision: every table as of the first migration. A database made by
`create_all` before migrations existed has no `alembic_version`;
`projections.migrations.upgrade_to_head` refuses it with advice (rebuild from the log).

`audit_trail` (projections/audit.py) and its triggers come in revision 0002.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('address_history',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('care_of', sa.String(length=200), nullable=True),
    sa.Column('street', sa.String(length=300), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('city', sa.String(length=200), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'seq', name=op.f('pk_address_history'))
    )
    op.create_table('company_contacts',
    sa.Column('company_id', sa.String(length=100), nullable=False),
    sa.Column('contact_id', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('company_id', 'contact_id', name=op.f('pk_company_contacts'))
    )
    op.create_index(op.f('ix_company_contacts_contact_id'), 'company_contacts', ['contact_id'], unique=False)
    op.create_table('consents',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('company', sa.String(length=300), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('overrides_nix', sa.Boolean(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('lapses_on', sa.Date(), nullable=True),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'purpose', 'channel', 'company', name=op.f('pk_consents'))
    )
    op.create_table('customer_state',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_state'))
    )
    op.create_table('customers',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('protected', sa.Boolean(), nullable=False),
    sa.Column('identity_number', sa.String(length=12), nullable=True),
    sa.Column('given_names', sa.String(length=200), nullable=True),
    sa.Column('surname', sa.String(length=200), nullable=True),
    sa.Column('company_name', sa.String(length=300), nullable=True),
    sa.Column('care_of', sa.String(length=200), nullable=True),
    sa.Column('street', sa.String(length=300), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('city', sa.String(length=200), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('address_since', sa.Date(), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('civil_status', sa.String(length=32), nullable=True),
    sa.Column('deceased_on', sa.Date(), nullable=True),
    sa.Column('emigrated_on', sa.Date(), nullable=True),
    sa.Column('active_consents', sa.Integer(), nullable=False),
    sa.Column('nix_registered', sa.Boolean(), nullable=False),
    sa.Column('events_applied', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customers'))
    )
    op.create_table('downstream_outbox',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_downstream_outbox'))
    )
    op.create_table('name_history',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('given_names', sa.String(length=200), nullable=False),
    sa.Column('surname', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'seq', name=op.f('pk_name_history'))
    )
    op.create_table('nix_status',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'phone', name=op.f('pk_nix_status'))
    )
    op.create_table('projection_offsets',
    sa.Column('projection', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('projection', 'topic', 'partition', name=op.f('pk_projection_offsets'))
    )


def downgrade() -> None:
    op.drop_table('projection_offsets')
    op.drop_table('nix_status')
    op.drop_table('name_history')
    op.drop_table('downstream_outbox')
    op.drop_table('customers')
    op.drop_table('customer_state')
    op.drop_table('consents')
    op.drop_index(op.f('ix_company_contacts_contact_id'), table_name='company_contacts')
    op.drop_table('company_contacts')
    op.drop_table('address_history')
