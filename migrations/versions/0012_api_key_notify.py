"""api key changes notify the gateways

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:30:00.000000

The gateway caches API keys and drops an entry when PostgreSQL notifies it that the key changed
(gateway/keystore.py): a revocation, rotation or deletion in any process is refused from the next request.
Every change to a row fires it, a recorded last use too (at most once a minute per key).
SQLite needs nothing: the gateway reads `PRAGMA data_version` instead.

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_FUNCTION = """
CREATE FUNCTION chiiki_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('chiiki_api_key', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER api_key_changed
AFTER UPDATE OR DELETE ON api_key
FOR EACH ROW EXECUTE FUNCTION chiiki_api_key_changed()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER api_key_changed ON api_key")
    op.execute("DROP FUNCTION chiiki_api_key_changed()")
