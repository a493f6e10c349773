"""api_keys.person: review rules compare the persons keys belong to, not the keys

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person", sa.String(length=200), nullable=True))
    # Existing keys: each its own person (nobody is merged by guesswork); `keys create
    # --person` names the person of new keys.
    op.execute("UPDATE api_keys SET person = 'key ' || CAST(id AS VARCHAR(20)) WHERE person IS NULL")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.alter_column("person", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index(batch_op.f("ix_api_keys_person"), ["person"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_person"))
        batch_op.drop_column("person")
