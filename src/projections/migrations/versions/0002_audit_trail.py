"""The audit trail (projections/audit.py): `audit_trail` and the triggers that make it append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

The trigger SQL is copied from `projections.audit` (SQLITE_TRIGGERS,
POSTGRESQL_TRIGGERS) as it stood when this revision was written, not imported:
a revision keeps doing what it did when the code around it changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail
BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
BEGIN SELECT RAISE(ABORT, 'audit_trail is append-only: DELETE refused'); END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit_trail is append-only: ' || TG_OP || ' refused', ERRCODE = 'insufficient_privilege';
END
$$""",
    """CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON audit_trail
FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()""",
    """CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON audit_trail
FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only()""",
)


def upgrade() -> None:
    op.create_table('audit_trail',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('topic', sa.String(length=255), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('causation_id', sa.String(length=36), nullable=True),
    sa.Column('correlation_id', sa.String(length=36), nullable=True),
    sa.Column('duplicate_of_seq', sa.Integer(), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_trail')),
    sa.UniqueConstraint('topic', 'partition', 'offset', name=op.f('uq_audit_trail_topic_partition_offset'))
    )
    op.create_index(op.f('ix_audit_trail_customer_id'), 'audit_trail', ['customer_id'], unique=False)
    op.create_index(op.f('ix_audit_trail_event_id'), 'audit_trail', ['event_id'], unique=False)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_trail_no_truncate ON audit_trail")
        op.execute("DROP TRIGGER IF EXISTS audit_trail_append_only ON audit_trail")
        op.execute("DROP FUNCTION IF EXISTS audit_trail_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_trail_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_trail_no_update")
    op.drop_index(op.f('ix_audit_trail_event_id'), table_name='audit_trail')
    op.drop_index(op.f('ix_audit_trail_customer_id'), table_name='audit_trail')
    op.drop_table('audit_trail')
