"""Quarantined log records and the projections' heartbeats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('quarantine',
    sa.Column('projection', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('quarantined_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('projection', 'topic', 'partition', 'offset', name=op.f('pk_quarantine'))
    )
    op.create_table('projection_health',
    sa.Column('projection', sa.String(length=64), nullable=False),
    sa.Column('beat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lag', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('projection', name=op.f('pk_projection_health'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('projection_health')
    op.drop_table('quarantine')
