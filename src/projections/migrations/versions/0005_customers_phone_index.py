"""An index on the customers' phone numbers: the NIX wash finds customers by phone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 05:00:00

"""
from typing import Sequence, Union

from alembic import op


revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(op.f('ix_customers_phone'), 'customers', ['phone'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_customers_phone'), table_name='customers')
