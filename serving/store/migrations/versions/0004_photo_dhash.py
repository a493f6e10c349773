"""photos.dhash: a perceptual hash per photo, so that repeated uploads of one item are linked

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        # 64-bit difference hash as 16 hex digits; NULL for photos stored before it existed.
        batch_op.add_column(sa.Column("dhash", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_column("dhash")
