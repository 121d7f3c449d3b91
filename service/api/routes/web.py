from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(tags=["web"])
PAGE = Path(__file__).resolve().parents[2] / "static" / "index.html"


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    """The verify page: plain HTML and JavaScript, no build step."""
    return FileResponse(PAGE, media_type="text/html")
