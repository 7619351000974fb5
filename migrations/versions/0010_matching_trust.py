"""matching: one live match per pair, and a round's tie-break (lottery seed)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 14:00:00.000000

A pair (market, municipality, company or adviser) has at most one match that is not declined, withdrawn or
completed: two partial unique indexes, one per kind of counterpart (SQLite and PostgreSQL both index with a
WHERE). A database that already holds two live matches for one pair cannot take the index; the upgrade stops
and names them, so that ops withdraw the extra ones first.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LIVE = "status IN ('proposed', 'accepted', 'agreement_signed', 'active')"
COUNTERPARTS = ('company_id', 'adviser_id')


def _refuse_duplicate_live_matches() -> None:
    connection = op.get_bind()
    for column in COUNTERPARTS:
        duplicates = connection.execute(sa.text(
            f"SELECT market, municipality_code, {column}, count(*) FROM matching_match "
            f"WHERE {column} IS NOT NULL AND {LIVE} GROUP BY market, municipality_code, {column} "
            "HAVING count(*) > 1")).all()
        if duplicates:
            named = ", ".join(f"{market} {code}–{partner} ({count})" for market, code, partner, count in duplicates)
            raise RuntimeError(f"pairs with more than one live match: {named}; withdraw the extra ones, then "
                               "upgrade again")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('matching_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tie_break_method', sa.String(length=16), server_default='id_order',
                                      nullable=False))
        batch_op.add_column(sa.Column('tie_break_seed', sa.BigInteger(), nullable=True))

    _refuse_duplicate_live_matches()
    with op.batch_alter_table('matching_match', schema=None) as batch_op:
        for column in COUNTERPARTS:
            where = sa.text(f"{column} IS NOT NULL AND {LIVE}")
            batch_op.create_index(f"uq_matching_match_live_{column.removesuffix('_id')}",
                                  ['market', 'municipality_code', column], unique=True,
                                  sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('matching_match', schema=None) as batch_op:
        for column in COUNTERPARTS:
            batch_op.drop_index(f"uq_matching_match_live_{column.removesuffix('_id')}")
    with op.batch_alter_table('matching_round', schema=None) as batch_op:
        batch_op.drop_column('tie_break_seed')
        batch_op.drop_column('tie_break_method')
