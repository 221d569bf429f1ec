"""Dead letters resolved: sent again successfully (`deadletters retry`) or marked resolved (`deadletters resolve`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('dead_letter_resolutions',
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason_code', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('how', sa.String(length=16), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('resolved_by', sa.String(length=100), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'partition', 'offset', 'rejected_at', name=op.f('pk_dead_letter_resolutions'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('dead_letter_resolutions')
