"""What every generating route does: check the request against the model, submit it, wait for or stream events.

A non-streaming request watches its connection while it waits: a client that goes away cancels its generation,
as a streaming one does (Starlette stops the stream's generator then).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from . import protocol
from .errors import ERROR_TYPES, ApiError, note_error
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

if TYPE_CHECKING:
    from .generation import Engine
    from .loading import LoadedModel

CLIENT_CLOSED = 499  # nginx's status for a client that left before the answer; it is never delivered
INLINE_PROMPT_CHARS = 4096  # prompts up to this size are tokenised on the event loop, longer ones in a thread


def sampling_defaults(loaded: LoadedModel) -> Sampling:
    """The model's own generation_config values, where it sets them, else OpenAI's defaults."""
    config = loaded.model.generation_config
    return Sampling(
        temperature=config.temperature if config.temperature is not None else 1.0,
        top_p=config.top_p if config.top_p is not None else 1.0,
        top_k=config.top_k if config.top_k is not None else 0,
        repetition_penalty=config.repetition_penalty if config.repetition_penalty is not None else 1.0,
    )


def openai_sampling(body: protocol.SamplingFields, defaults: Sampling) -> Sampling:
    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return Sampling(
        temperature=pick(body.temperature, defaults.temperature),
        top_p=pick(body.top_p, defaults.top_p),
        top_k=max(0, pick(body.top_k, defaults.top_k)),
        repetition_penalty=pick(body.repetition_penalty, defaults.repetition_penalty),
        min_new_tokens=body.min_tokens,
        seed=body.seed,
    )


def select_adapter(loaded: LoadedModel, model_id: str | None) -> str | None:
    try:
        return loaded.adapter_for(model_id)
    except KeyError:
        known = ", ".join(loaded.model_ids())
        raise ApiError(
            404, f"The model `{model_id}` does not exist; this server has: {known}", "model_not_found"
        ) from None


def max_new_tokens(options: argparse.Namespace, loaded: LoadedModel, prompt_len: int, asked: int | None) -> int:
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


def submit(engine: Engine, request: GenerationRequest) -> RequestHandle:
    try:
        return engine.submit(request)
    except QueueFull as full:
        raise ApiError(429, str(full), "rate_limit_exceeded", {"Retry-After": str(full.retry_after_s)}) from None
    except EngineStopped:
        raise ApiError(503, "the server is shutting down", "shutting_down") from None


async def next_event(handle: RequestHandle) -> Event:
    """The handle's next event, or a timeout failure once the request's deadline has passed.

    ``asyncio.timeout`` rather than ``wait_for``: no task per event (measured 12 against 42 microseconds per event
    on the loop, which streams every chunk of every client through here)."""
    remaining = handle.deadline - time.monotonic()
    try:
        async with asyncio.timeout(None if math.isinf(remaining) else max(0.0, remaining)):
            return await handle.events.get()
    except TimeoutError:
        handle.cancel()
        return timeout_failure(handle.request)


async def _client_gone(request: Request) -> None:
    """Return once the client has closed its connection (the body has been read; only a disconnect is left)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def final(handle: RequestHandle, request: Request) -> Finished:
    """The request's result; cancels its generation if the client disconnects first."""
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        while True:
            event_task = asyncio.ensure_future(next_event(handle))
            await asyncio.wait({event_task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not event_task.done():
                event_task.cancel()
                raise ApiError(CLIENT_CLOSED, "the client closed the connection", "client_disconnected")
            event = event_task.result()
            if isinstance(event, Finished):
                return event
            if isinstance(event, Failed):
                raise ApiError(event.status, event.message, event.code)
    finally:
        gone.cancel()
        handle.cancel()  # a no-op once finished; stops the row when the client left or the route was cancelled


def sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"


def event_stream(chunks: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


async def stream_events(
    handle: RequestHandle, request: Request, on_delta: Callable[[str], Any], on_finish: Callable[[Finished], list]
) -> AsyncIterator[str]:
    """SSE lines for a streamed request, an error event if it fails, and ``[DONE]`` in every case.

    Text that arrived while the previous chunk was being sent goes out as one chunk: under load, fewer and larger
    writes keep the event loop (which shares the interpreter with the generating thread) from falling behind.
    """
    try:
        while True:
            event = await next_event(handle)
            if isinstance(event, TextDelta):
                text, event = _coalesce(handle, event.text)
                yield sse(on_delta(text))
                if event is None:
                    continue
            if isinstance(event, Finished):
                for payload in on_finish(event):
                    yield sse(payload)
                break
            else:
                note_error(request, event.code)
                yield sse(protocol.error_body(event.message, ERROR_TYPES.get(event.status, "error"), event.code))
                break
        yield "data: [DONE]\n\n"
    finally:
        handle.cancel()  # the client left, or we are done: either way the row may stop


def _coalesce(handle: RequestHandle, text: str) -> tuple[str, Event | None]:
    """``text`` joined with the text events already queued behind it, and the first other event queued, if any."""
    while not handle.events.empty():
        event = handle.events.get_nowait()
        if not isinstance(event, TextDelta):
            return text, event
        text += event.text
    return text, None


async def encode_prompt(chars: int, encode: Callable[..., list[int]], *args: Any) -> list[int]:
    """``encode(*args)`` for a prompt of ``chars`` characters: on the event loop when it is short (tens of
    microseconds, less than a thread-pool round trip and the wake-ups it costs under load), in a worker thread when
    it is long, so that tokenising it cannot hold up every other stream."""
    if chars <= INLINE_PROMPT_CHARS:
        return encode(*args)
    return await run_in_threadpool(encode, *args)


def chat_chars(messages: list[protocol.ChatMessage]) -> int:
    return sum(len(m.text()) for m in messages)


def encode_chat(tokenizer: Any, messages: list[protocol.ChatMessage]) -> list[int]:
    if not tokenizer.chat_template:
        raise ApiError(400, "this model has no chat template; use /v1/completions", "no_chat_template")
    text = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.text()} for m in messages], add_generation_prompt=True, tokenize=False
    )
    return _non_empty(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_text(tokenizer: Any, text: str) -> list[int]:
    return _non_empty(tokenizer, tokenizer(text)["input_ids"])


def _non_empty(tokenizer: Any, ids: list[int]) -> list[int]:
    """An empty prompt starts from the beginning-of-sequence token; a model without one cannot continue nothing."""
    if ids:
        return ids
    if tokenizer.bos_token_id is None:
        raise ApiError(400, "the prompt is empty and this model has no beginning-of-sequence token", "empty_prompt")
    return [tokenizer.bos_token_id]
