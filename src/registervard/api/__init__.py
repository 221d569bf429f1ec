"""The HTTP API for downstream systems (FastAPI): `registervard serve`, `app.create_app(settings)`.

`roles` (who may call what) and `keys` (API keys in the database) import no
web framework, so the command line can use them cheaply.
"""
