"""The web console (docs/console.md): static files from gateway/console/, served by the gateway itself.

`/console` and `/console/` answer the page; every other file under `/console/` is served as it is. The console
reads and writes only through the public REST API, like any front-end app; its Content-Security-Policy is set
with the other security headers (gateway/middleware.py).
"""

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from gateway.middleware import CONSOLE_PATH

CONSOLE_FILES = Path(__file__).parent / "console"


def mount_console(app: FastAPI) -> None:
    """Route `/console` to the page and mount the files under `/console/`; before the proxy's catch-all."""

    @app.get(CONSOLE_PATH, include_in_schema=False)
    async def console_page() -> FileResponse:
        return FileResponse(CONSOLE_FILES / "index.html")

    app.mount(CONSOLE_PATH, StaticFiles(directory=CONSOLE_FILES, html=True), name="console")
