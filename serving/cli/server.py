"""`secondlook serve`: the appraisal API under uvicorn."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the appraisal API (settings from SECONDLOOK_* environment variables)."""
    import logging

    import uvicorn

    from serving.api.app import create_app, load_panel
    from serving.settings import load_settings
    from serving.store.db import open_database

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # JSON access lines, one per request
    logging.getLogger("alembic").setLevel(logging.WARNING)

    # Models and database are checked here first, so a wrong setting is one line, not a traceback
    # (the app migrates the database when it starts).
    settings = load_settings()
    panel = load_panel(settings)
    open_database(settings.database_url).dispose()
    click.echo(f"secondlook API on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(create_app(settings, panel), host=host, port=port, log_level="info")
