"""HTTP API: Kaito's legacy ``/chat``, the OpenAI routes, ``/health`` and Prometheus ``/metrics``.

The app answers as soon as the socket listens; the model loads in a background thread and every model route
answers 503 until it is ready. Nothing here imports torch, so the port opens in well under a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import protocol
from .generation import (
    EngineStopped,
    Event,
    Failed,
    Finished,
    GenerationRequest,
    QueueFull,
    RequestHandle,
    Sampling,
    TextDelta,
    timeout_failure,
)
from .metrics import Metrics
from .weights import locate

if TYPE_CHECKING:
    from .engine import BatchingEngine
    from .loading import LoadedModel

log = logging.getLogger(__name__)

ROUTES = ("/", "/health", "/metrics", "/chat", "/v1/models", "/v1/chat/completions", "/v1/completions")
_PROBE_ROUTES = ("/health", "/metrics")  # a 503 from /health while loading is a state, not an error
_METHODS = ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH")  # label values; anything else is "other"
_ERROR_TYPES = {
    400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
    408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error", 500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass
class ServerState:
    options: argparse.Namespace
    metrics: Metrics
    loaded: LoadedModel | None = None
    engine: BatchingEngine | None = None
    load_error: BaseException | None = None
    on_load_failure: Callable[[], None] = lambda: None

    def serving(self) -> tuple[LoadedModel, BatchingEngine]:
        if self.loaded is None or self.engine is None:
            raise ApiError(503, "the model is still loading", "model_loading", {"Retry-After": "5"})
        return self.loaded, self.engine


def load_in_background(state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
    """Load the model, warm it up and start the engine; on failure ask the server to exit."""
    try:
        options = state.options
        located = locate(options)  # before the heavy imports below: a wrong reference fails in about a second

        from transformers.utils import logging as transformers_logging

        from .engine import BatchingEngine
        from .loading import load, warm_up

        transformers_logging.disable_progress_bar()
        loaded = load(options, located)
        warm_up(loaded)
        engine = BatchingEngine(
            loaded, state.metrics, loop,
            max_batch_size=options.max_batch_size,
            batch_window_s=options.batch_window_ms / 1000,
            max_queue_size=options.max_queue_size,
        )
        engine.start()
        state.loaded, state.engine = loaded, engine
        state.metrics.model_ready.set(1)
        log.info("ready: serving %s", ", ".join(loaded.model_ids()))
    except BaseException as error:  # noqa: BLE001 - any failure must stop the pod, visibly
        log.exception("model loading failed")
        state.load_error = error
        loop.call_soon_threadsafe(state.on_load_failure)


# ----------------------------------------------------------------------------------------------- errors


def error_response(path: str, status: int, message: str, code: str, headers: dict[str, str] | None = None):
    """OpenAI's error shape on ``/v1`` routes, FastAPI's ``{"detail": ...}`` elsewhere (as Kaito's /chat did)."""
    if path.startswith("/v1/"):
        body = protocol.error_body(message, _ERROR_TYPES.get(status, "invalid_request_error"), code)
    else:
        body = {"detail": message}
    return JSONResponse(body, status_code=status, headers=headers)


def _note_error(request_or_scope: Any, code: str) -> None:
    scope = request_or_scope.scope if isinstance(request_or_scope, Request) else request_or_scope
    scope.setdefault("state", {})["error_code"] = code


def _validation_message(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "; ".join(parts)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        _note_error(request, error.code)
        return error_response(request.url.path, error.status, error.message, error.code, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, error: RequestValidationError):
        _note_error(request, "invalid_request")
        return error_response(request.url.path, 400, _validation_message(error), "invalid_request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            error.status_code, "http_error"
        )
        _note_error(request, code)
        return error_response(request.url.path, error.status_code, str(error.detail), code, error.headers)


# ------------------------------------------------------------------------------------------- middleware


class BodySizeLimit:
    """Answer 413 once a request body exceeds ``max_bytes``, declared or streamed, before it is all in memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            _note_error(scope, "payload_too_large")
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


# ----------------------------------------------------------------------------------------------- helpers


def _sampling_defaults(loaded: LoadedModel) -> Sampling:
    """The model's own generation_config values, where it sets them, else OpenAI's defaults."""
    config = loaded.model.generation_config
    return Sampling(
        temperature=config.temperature if config.temperature is not None else 1.0,
        top_p=config.top_p if config.top_p is not None else 1.0,
        top_k=config.top_k if config.top_k is not None else 0,
        repetition_penalty=config.repetition_penalty if config.repetition_penalty is not None else 1.0,
    )


def _openai_sampling(body: protocol.SamplingFields, defaults: Sampling) -> Sampling:
    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return Sampling(
        temperature=pick(body.temperature, defaults.temperature),
        top_p=pick(body.top_p, defaults.top_p),
        top_k=pick(body.top_k, defaults.top_k),
        repetition_penalty=pick(body.repetition_penalty, defaults.repetition_penalty),
        min_new_tokens=body.min_tokens,
        seed=body.seed,
    )


def _select_adapter(loaded: LoadedModel, model_id: str | None) -> str | None:
    try:
        return loaded.adapter_for(model_id)
    except KeyError:
        known = ", ".join(loaded.model_ids())
        raise ApiError(
            404, f"The model `{model_id}` does not exist; this server has: {known}", "model_not_found"
        ) from None


def _max_new_tokens(options: argparse.Namespace, loaded: LoadedModel, prompt_len: int, asked: int | None) -> int:
    """Validate ``max_tokens`` against the server cap and the context window; default to what still fits."""
    room = loaded.context_length - prompt_len
    if room <= 0:
        raise ApiError(400, f"the prompt has {prompt_len} tokens; this model's context is "
                            f"{loaded.context_length} tokens", "context_length_exceeded")
    if asked is None:
        return min(options.default_max_tokens, room)
    if asked > options.max_tokens_limit:
        raise ApiError(400, f"max_tokens={asked} exceeds this server's limit of {options.max_tokens_limit} "
                            "(--max-tokens-limit)", "max_tokens_too_large")
    if asked > room:
        raise ApiError(400, f"max_tokens={asked} plus the prompt's {prompt_len} tokens exceed this model's "
                            f"context of {loaded.context_length} tokens", "context_length_exceeded")
    return asked


def _submit(engine: BatchingEngine, request: GenerationRequest) -> RequestHandle:
    try:
        return engine.submit(request)
    except QueueFull as full:
        raise ApiError(429, str(full), "rate_limit_exceeded", {"Retry-After": str(full.retry_after_s)}) from None
    except EngineStopped:
        raise ApiError(503, "the server is shutting down", "shutting_down") from None


async def _next_event(handle: RequestHandle) -> Event:
    """The handle's next event, or a timeout failure once the request's deadline has passed."""
    try:
        return await asyncio.wait_for(handle.events.get(), timeout=max(0.0, handle.deadline - time.monotonic()))
    except TimeoutError:
        handle.cancel()
        return timeout_failure(handle.request)


async def _final(handle: RequestHandle) -> Finished:
    try:
        while True:
            event = await _next_event(handle)
            if isinstance(event, Finished):
                return event
            if isinstance(event, Failed):
                raise ApiError(event.status, event.message, event.code)
    except asyncio.CancelledError:
        handle.cancel()
        raise


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"


def _event_stream(chunks: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def _stream_events(
    handle: RequestHandle, request: Request, on_delta: Callable[[str], Any], on_finish: Callable[[Finished], list]
) -> AsyncIterator[str]:
    """SSE lines for a streamed request, an error event if it fails, and ``[DONE]`` in every case."""
    try:
        while True:
            event = await _next_event(handle)
            if isinstance(event, TextDelta):
                yield _sse(on_delta(event.text))
            elif isinstance(event, Finished):
                for payload in on_finish(event):
                    yield _sse(payload)
                break
            else:
                _note_error(request, event.code)
                yield _sse(protocol.error_body(event.message, _ERROR_TYPES.get(event.status, "error"), event.code))
                break
        yield "data: [DONE]\n\n"
    finally:
        handle.cancel()  # the client left, or we are done: either way the row may stop


def _encode_chat(tokenizer: Any, messages: list[protocol.ChatMessage]) -> list[int]:
    if not tokenizer.chat_template:
        raise ApiError(400, "this model has no chat template; use /v1/completions", "no_chat_template")
    text = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.text()} for m in messages], add_generation_prompt=True, tokenize=False
    )
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _encode_text(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text)["input_ids"]


# ------------------------------------------------------------------------------------------------ routes


def create_app(state: ServerState) -> ASGIApp:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        threading.Thread(target=load_in_background, args=(state, loop), name="load-model", daemon=True).start()
        yield
        if state.engine is not None:
            state.engine.stop()

    app = FastAPI(title="Kaito inference", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)
    options = state.options

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"message": "Server is running"}

    @app.get("/health")
    async def health() -> Response:
        if state.engine is None:
            return JSONResponse({"status": "Loading"}, status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"status": "Healthy"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        loaded, _ = state.serving()
        cards = [protocol.model_card(loaded.served_name, None)]
        cards += [protocol.model_card(name, loaded.served_name) for name in loaded.adapter_strengths]
        return {"object": "list", "data": cards}

    def generation_request(
        loaded: LoadedModel, body: protocol.SamplingFields, prompt_ids: list[int], asked: int | None
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt_ids=prompt_ids,
            max_new_tokens=_max_new_tokens(options, loaded, len(prompt_ids), asked),
            sampling=_openai_sampling(body, _sampling_defaults(loaded)),
            adapter=_select_adapter(loaded, body.model),
            model_label=body.model or "default",
            stop=body.stop_strings(),
            stream=body.stream,
            timeout_s=options.request_timeout,
        )

    @app.post("/v1/chat/completions")
    async def chat_completions(body: protocol.ChatCompletionRequest, request: Request) -> Any:
        loaded, engine = state.serving()
        _select_adapter(loaded, body.model)
        prompt_ids = await run_in_threadpool(_encode_chat, loaded.tokenizer, body.messages)
        handle = _submit(engine, generation_request(loaded, body, prompt_ids, body.requested_max_tokens()))
        request_id, model = protocol.new_id("chatcmpl"), body.model or loaded.served_name
        if not body.stream:
            done = await _final(handle)
            usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
            return protocol.chat_completion(request_id, model, done.text, done.finish_reason, usage)

        def finish(done: Finished) -> list[dict]:
            chunks = [protocol.chat_chunk(request_id, model, {}, done.finish_reason)]
            if body.stream_options and body.stream_options.include_usage:
                usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
                chunks.append(protocol.usage_chunk(request_id, model, "chat.completion.chunk", usage))
            return chunks

        async def chunks() -> AsyncIterator[str]:
            yield _sse(protocol.chat_chunk(request_id, model, {"role": "assistant", "content": ""}))
            async for line in _stream_events(
                handle, request, lambda text: protocol.chat_chunk(request_id, model, {"content": text}), finish
            ):
                yield line

        return _event_stream(chunks())

    @app.post("/v1/completions")
    async def completions(body: protocol.CompletionRequest, request: Request) -> Any:
        loaded, engine = state.serving()
        _select_adapter(loaded, body.model)
        prompt_ids = await run_in_threadpool(_encode_text, loaded.tokenizer, body.prompt_text())
        handle = _submit(engine, generation_request(loaded, body, prompt_ids, body.requested_max_tokens()))
        request_id, model = protocol.new_id("cmpl"), body.model or loaded.served_name
        if not body.stream:
            done = await _final(handle)
            answer = protocol.text_completion(request_id, model, done.text, done.finish_reason)
            return {**answer, "usage": protocol.usage(done.prompt_tokens, done.completion_tokens)}

        def finish(done: Finished) -> list[dict]:
            chunks = [protocol.text_completion(request_id, model, "", done.finish_reason)]
            if body.stream_options and body.stream_options.include_usage:
                usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
                chunks.append(protocol.usage_chunk(request_id, model, "text_completion", usage))
            return chunks

        return _event_stream(_stream_events(
            handle, request, lambda text: protocol.text_completion(request_id, model, text, None), finish
        ))

    @app.post("/chat")
    async def legacy_chat(body: protocol.LegacyChatRequest) -> dict[str, str]:
        """Kaito ≤ v0.8 ``/chat``: ``prompt`` continues text (the prompt is echoed when ``return_full_text``);
        ``messages`` goes through the chat template and ``Result`` is the assistant's reply."""
        loaded, engine = state.serving()
        if body.prompt is None and body.messages is None:
            raise ApiError(400, "Text generation parameter prompt required", "invalid_request")
        if body.messages is not None:
            prompt_ids = await run_in_threadpool(_encode_chat, loaded.tokenizer, body.messages)
        else:
            prompt_ids = await run_in_threadpool(_encode_text, loaded.tokenizer, body.prompt)
        kwargs = body.generate_kwargs
        asked = kwargs.max_new_tokens or kwargs.max_length - len(prompt_ids)
        if asked <= 0:
            raise ApiError(400, f"generate_kwargs.max_length={kwargs.max_length} counts the prompt's "
                                f"{len(prompt_ids)} tokens too; raise it or set max_new_tokens", "invalid_request")
        sampling = Sampling(
            temperature=kwargs.temperature if kwargs.do_sample else 0,
            top_p=kwargs.top_p,
            top_k=kwargs.top_k,
            typical_p=kwargs.typical_p,
            repetition_penalty=kwargs.repetition_penalty,
            min_new_tokens=max(0, kwargs.min_length - len(prompt_ids)),
        )
        handle = _submit(engine, GenerationRequest(
            prompt_ids=prompt_ids,
            max_new_tokens=_max_new_tokens(options, loaded, len(prompt_ids), asked),
            sampling=sampling,
            adapter=_select_adapter(loaded, None),
            model_label="default",
            timeout_s=options.request_timeout,
        ))
        text = (await _final(handle)).text
        if body.clean_up_tokenization_spaces:
            text = loaded.tokenizer.clean_up_tokenization(text)
        if body.prompt is not None and body.messages is None and body.return_full_text:
            text = body.prompt + text
        return {"Result": text}

    return RequestMetrics(BodySizeLimit(app, options.max_request_bytes), state.metrics)
