"""indexes on when matching rows last changed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 15:00:00.000000

Every recommendation first asks whether the registry, the matches or the market's needs moved since it last read
them: the latest updated_at of each. These indexes answer that without a scan of the table.
"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_matching_company_updated_at', 'matching_company', ['updated_at'])
    op.create_index('ix_matching_adviser_updated_at', 'matching_adviser', ['updated_at'])
    op.create_index('ix_matching_match_updated_at', 'matching_match', ['updated_at'])
    op.create_index('ix_matching_need_market_updated_at', 'matching_need', ['market', 'updated_at'])


def downgrade() -> None:
    op.drop_index('ix_matching_need_market_updated_at', table_name='matching_need')
    op.drop_index('ix_matching_match_updated_at', table_name='matching_match')
    op.drop_index('ix_matching_adviser_updated_at', table_name='matching_adviser')
    op.drop_index('ix_matching_company_updated_at', table_name='matching_company')
