"""The API's docs, Swagger UI at /docs and ReDoc at /redoc, served with their scripts, styles and icon from this process.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc's fonts from Google), so they are blank on a
machine without the internet. The files come from the `fastapi-offline` package, which ships them (Swagger UI 5,
which reads the OpenAPI 3.1 that FastAPI writes); the pages are FastAPI's own, pointed at them. Nothing on either
page names another host, and Swagger UI's validator badge (which would ask validator.swagger.io) is off.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PACKAGE = ("fastapi_offline", "static")
"""The package directory that holds swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js and favicon.png."""
ASSETS_PATH = "/docs/assets"
SWAGGER_UI_PARAMETERS = {"validatorUrl": None, "persistAuthorization": False}
"""No validator badge (an image from validator.swagger.io); a key typed into "Authorize" is not kept in the browser."""


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for `app` (built with `docs_url=None, redoc_url=None`), and their assets under ASSETS_PATH.

    None of them needs a key, and none is in the OpenAPI schema.
    """
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")  # behind a proxy that serves the API under a prefix
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            oauth2_redirect_url=None,  # keys are bearer tokens: no OAuth2 flow to come back from
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
