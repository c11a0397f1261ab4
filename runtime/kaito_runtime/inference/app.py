"""HTTP API: Kaito's legacy ``/chat``, the OpenAI routes, ``/health`` and Prometheus ``/metrics``.

The app answers as soon as the socket listens; the model loads in a background thread and every model route
answers 503 until it is ready. Nothing here imports torch, so the port opens in well under a second.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response, install_error_handlers, note_error
from .metrics import Metrics
from .routes_legacy import legacy_router
from .routes_openai import openai_router
from .routes_probes import probe_router
from .state import ServerState, load_in_background

ROUTES = ("/", "/health", "/metrics", "/chat", "/v1/models", "/v1/chat/completions", "/v1/completions")
_PROBE_ROUTES = ("/health", "/metrics")  # a 503 from /health while loading is a state, not an error
_METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH")  # label values; anything else is "other"


class BodySizeLimit:
    """Answer 413 once a request body exceeds ``max_bytes``, declared or streamed, before it is all in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            note_error(scope, "payload_too_large")
            response = error_response(scope["path"], 413, self._message(), "payload_too_large")
            return await response(scope, receive, send)
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise StarletteHTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"the request body exceeds this server's limit of {self.max_bytes} bytes"


class RequestMetrics:
    """Count every answer by route and status, time it to its last byte, and count API errors by reason."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"] if scope["path"] in ROUTES else "other"
        method = scope["method"] if scope["method"] in _METHODS else "other"
        started, status = time.perf_counter(), 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.http_requests.labels(route, method, str(status)).inc()
            self.metrics.request_duration.labels(route).observe(time.perf_counter() - started)
            code = scope.get("state", {}).get("error_code")
            if (code or status >= 400) and route not in _PROBE_ROUTES:
                self.metrics.request_errors.labels(route, code or f"http_{status}").inc()


def create_app(state: ServerState) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        threading.Thread(target=load_in_background, args=(state, loop), name="load-model", daemon=True).start()
        yield
        if state.engine is not None:
            state.engine.stop()

    app = FastAPI(title="Kaito inference", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    for router in (probe_router(state), openai_router(state), legacy_router(state)):
        app.include_router(router)
    return RequestMetrics(BodySizeLimit(app, state.options.max_request_bytes), state.metrics)
