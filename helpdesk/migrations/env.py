"""Alembic environment: the connection comes from helpdesk.migrate (config.attributes["connection"])."""

from alembic import context

import helpdesk.models  # noqa: F401  (fills Base.metadata)
from helpdesk.db import Base
from helpdesk.migrate import include_name

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
