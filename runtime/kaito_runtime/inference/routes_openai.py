"""OpenAI routes: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from . import protocol
from .generation import Finished, GenerationRequest
from .serving import (
    chat_chars,
    encode_chat,
    encode_prompt,
    encode_text,
    event_stream,
    final,
    max_new_tokens,
    openai_sampling,
    sampling_defaults,
    select_adapter,
    sse,
    stream_events,
    submit,
)
from .state import ServerState


def openai_router(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        loaded, _ = state.serving()
        cards = [protocol.model_card(loaded.served_name, None)]
        cards += [protocol.model_card(name, loaded.served_name) for name in loaded.adapter_strengths]
        return {"object": "list", "data": cards}

    @router.post("/v1/chat/completions")
    async def chat_completions(body: protocol.ChatCompletionRequest, request: Request) -> Any:
        loaded, _ = state.serving()
        select_adapter(loaded, body.model)
        prompt_ids = await encode_prompt(chat_chars(body.messages), encode_chat, loaded.tokenizer, body.messages)
        return await _answer_chat(state, body, request, prompt_ids)

    @router.post("/v1/completions")
    async def completions(body: protocol.CompletionRequest, request: Request) -> Any:
        loaded, _ = state.serving()
        select_adapter(loaded, body.model)
        text = body.prompt_text()
        prompt_ids = await encode_prompt(len(text), encode_text, loaded.tokenizer, text)
        return await _answer_completion(state, body, request, prompt_ids)

    return router


def _generation_request(state: ServerState, body: protocol.SamplingFields, prompt_ids: list[int],
                        asked: int | None) -> GenerationRequest:
    loaded, _ = state.serving()
    return GenerationRequest(
        prompt_ids=prompt_ids,
        max_new_tokens=max_new_tokens(state.options, loaded, len(prompt_ids), asked),
        sampling=openai_sampling(body, sampling_defaults(loaded)),
        adapter=select_adapter(loaded, body.model),
        model_label=body.model or "default",
        stop=body.stop_strings(),
        stream=body.stream,
        timeout_s=state.options.request_timeout,
    )


def _usage_requested(body: protocol.SamplingFields) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


async def _answer_chat(state: ServerState, body: protocol.ChatCompletionRequest, request: Request,
                       prompt_ids: list[int]) -> Any:
    loaded, engine = state.serving()
    handle = submit(engine, _generation_request(state, body, prompt_ids, body.requested_max_tokens()))
    request_id, model = protocol.new_id("chatcmpl"), body.model or loaded.served_name
    if not body.stream:
        done = await final(handle, request)
        usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
        return protocol.chat_completion(request_id, model, done.text, done.finish_reason, usage)

    def finish(done: Finished) -> list[dict]:
        chunks = [protocol.chat_chunk(request_id, model, {}, done.finish_reason)]
        if _usage_requested(body):
            usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
            chunks.append(protocol.usage_chunk(request_id, model, "chat.completion.chunk", usage))
        return chunks

    async def chunks() -> AsyncIterator[str]:
        yield sse(protocol.chat_chunk(request_id, model, {"role": "assistant", "content": ""}))
        async for line in stream_events(
            handle, request, lambda text: protocol.chat_chunk(request_id, model, {"content": text}), finish
        ):
            yield line

    return event_stream(chunks())


async def _answer_completion(state: ServerState, body: protocol.CompletionRequest, request: Request,
                             prompt_ids: list[int]) -> Any:
    loaded, engine = state.serving()
    handle = submit(engine, _generation_request(state, body, prompt_ids, body.requested_max_tokens()))
    request_id, model = protocol.new_id("cmpl"), body.model or loaded.served_name
    if not body.stream:
        done = await final(handle, request)
        answer = protocol.text_completion(request_id, model, done.text, done.finish_reason)
        return {**answer, "usage": protocol.usage(done.prompt_tokens, done.completion_tokens)}

    def finish(done: Finished) -> list[dict]:
        chunks = [protocol.text_completion(request_id, model, "", done.finish_reason)]
        if _usage_requested(body):
            usage = protocol.usage(done.prompt_tokens, done.completion_tokens)
            chunks.append(protocol.usage_chunk(request_id, model, "text_completion", usage))
        return chunks

    return event_stream(stream_events(
        handle, request, lambda text: protocol.text_completion(request_id, model, text, None), finish
    ))
