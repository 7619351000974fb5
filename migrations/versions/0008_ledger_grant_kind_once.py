"""ledger: each grant moves once per kind (reserve, post, void, revoke)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 11:30:00.000000

A backstop under the grant's state constraint: a grant.credited applied twice would fail here rather than
post the grant's points twice. Budget movements without a grant (fund) have a NULL grant_id and never conflict.
"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_ledger_entry_grant_kind', ['grant_id', 'kind'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('ledger_entry', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ledger_entry_grant_kind', type_='unique')
