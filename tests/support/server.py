"""The API over real HTTP in a test: uvicorn on a free port, on the test's event loop (where
the in-process worker runs too), without signal handlers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import uvicorn

from claimflow.embedded import free_port


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def in_process(
    app: object,
    *,
    base_url: str = "http://claimflow.test",
    raise_app_exceptions: bool = True,
    **client: object,
) -> AsyncIterator[httpx.AsyncClient]:
    """`app` started (its lifespan), and a client that calls it in-process, without sockets;
    with `raise_app_exceptions=False` a crash answers 500, as a server would, instead of
    raising in the test."""
    async with (
        app.router.lifespan_context(app),  # type: ignore[attr-defined]
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions),  # type: ignore[arg-type]
            base_url=base_url,
            **client,  # type: ignore[arg-type]
        ) as http,
    ):
        yield http


@contextlib.asynccontextmanager
async def served(app: object) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # e.g. the port was taken: raise it
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
