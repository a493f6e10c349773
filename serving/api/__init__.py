"""The appraisal API (FastAPI): `create_app(settings)` builds it; nothing is built at import."""
