"""Customers merged into others as duplicates (schema release 4): the pointer from a dropped id to the kept one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # No merge happened before this revision: the table starts empty. Stored fold states of version 3 are read as
    # version 4 with no merge (events.state_codec), so nothing else changes.
    op.create_table('customer_merges',
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('merged_into', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_merges'))
    )
    with op.batch_alter_table('customer_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_merges_merged_into'), ['merged_into'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('customer_merges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_merges_merged_into'))

    op.drop_table('customer_merges')
