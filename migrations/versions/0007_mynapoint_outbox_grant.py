"""mynapoint outbox: each grant.* event names its grant, so a voided reservation finds its grant.created

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 10:40:00.000000

The new outbox status `cancelled` needs no schema change: the status column is a plain string.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel.sql.sqltypes.AutoString)


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Events written before this revision carry the grant id only in their body.
BACKFILL = {
    'sqlite': "json_extract(body, '$.data.grant_id')",
    'postgresql': "CAST(body AS json) -> 'data' ->> 'grant_id'",
}


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grant_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_event_grant_id'), ['grant_id'], unique=False)
    grant_id = BACKFILL[op.get_bind().dialect.name]
    op.execute(f"UPDATE outbox_event SET grant_id = {grant_id} WHERE event_type LIKE 'grant.%'")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbox_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_event_grant_id'))
        batch_op.drop_column('grant_id')
