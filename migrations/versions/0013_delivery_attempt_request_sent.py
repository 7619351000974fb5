"""delivery attempts say whether their request left

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 12:00:00.000000

A grant.created whose attempts all failed voids its grant. If any request may have reached the provider (its
answer lost, a 5xx after the provider stored it), the provider is sent grant.revoked; if none left (no
connection, a refused address, a disabled endpoint), nothing is sent. Attempts recorded before this revision
count as sent: the safe side, as a needless grant.revoked is ignored and a missing one leaves points unpaid for.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_sent', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_column('request_sent')
