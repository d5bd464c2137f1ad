"""A limit on the size of every request body: 413 without reading what is too large.

A body announced larger than the limit (Content-Length) is refused before any of it is read;
a body streamed without a length (chunked) is refused as soon as it grows past the limit. The
answer is the API's usual problem: `{"detail": "..."}`.

Mid-stream, the 413 is sent from the middleware itself, at the moment the limit is passed,
and the error that then unwinds the app (whatever the layers in between make of it: FastAPI
would call it a 400, a BaseHTTPMiddleware wraps it in an ExceptionGroup) is dropped, with any
answer the app still tries to give.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised from `receive` once the body has passed the limit (the 413 is already sent)."""


def too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return

        received = 0
        started = False
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    if not started:
                        await self._refuse(scope, receive, send)
                        refused = True
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 is out: the app's own answer goes nowhere
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except Exception:
            if not refused:
                raise
            # Whatever the app raised while giving up on the body it could not have.

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": too_large(self.limit)}, status_code=413)
        await response(scope, receive, send)
