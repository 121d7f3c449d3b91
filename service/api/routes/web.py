"""The verify page and the API documentation pages, all from local files (no CDN)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from service.api.errors import ApiError

router = APIRouter(tags=["web"])
PAGE = Path(__file__).resolve().parents[2] / "static" / "index.html"
# Swagger UI and ReDoc as the fastapi-offline package ships them.
DOC_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
ASSETS_URL = "/static/docs"
# Nothing the documentation pages load may come from elsewhere: ReDoc's sidebar still
# points an image at its CDN, which this keeps in the browser.
LOCAL_ONLY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
        "connect-src 'self'"
    )
}


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(LOCAL_ONLY)
    return page


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The verify page: plain HTML and JavaScript, no build step."""
    return FileResponse(PAGE, media_type="text/html")


@router.get(ASSETS_URL + "/{name}", include_in_schema=False)
async def doc_asset(name: str) -> FileResponse:
    if name not in DOC_ASSETS:
        raise ApiError(404, "not_found", f"No asset {name}.")
    path = Path(str(files("fastapi_offline") / "static" / name))
    return FileResponse(
        path, media_type=DOC_ASSETS[name], headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    return _local_only(
        get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )
    )


@router.get("/docs/oauth2-redirect", include_in_schema=False)
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    app = request.app
    return _local_only(
        get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title}: API reference",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
    )
