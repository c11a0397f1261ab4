"""Kaito's legacy ``POST /chat`` (transformers runtime ≤ v0.8): ``{"Result": text}``.

``prompt`` continues text (echoed first when ``return_full_text``); ``messages`` goes through the chat template and
``Result`` is the assistant's reply. With ``num_return_sequences`` > 1 the sequences are concatenated, as Kaito's
server concatenated the pipeline's ``generated_text``s. Fields accepted but not applied are logged per request.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from . import protocol
from .errors import ApiError
from .generation import GenerationRequest, RequestHandle, Sampling
from .serving import (
    chat_chars,
    encode_chat,
    encode_prompt,
    encode_text,
    final,
    max_new_tokens,
    select_adapter,
    submit,
)
from .state import ServerState

log = logging.getLogger(__name__)


def legacy_router(state: ServerState) -> APIRouter:
    router = APIRouter()

    @router.post("/chat")
    async def legacy_chat(body: protocol.LegacyChatRequest, request: Request) -> dict[str, str]:
        loaded, engine = state.serving()
        if body.prompt is None and body.messages is None:
            raise ApiError(400, "Text generation parameter prompt required", "invalid_request")
        _log_ignored(body)
        prompt_ids = await encode_prompt(_prompt_chars(body), _prompt_ids, loaded.tokenizer, body)
        generation = _generation_request(state, body, prompt_ids)
        handles: list[RequestHandle] = []
        try:  # a refused submission (queue full) cancels the sequences already queued
            for _ in range(body.generate_kwargs.num_return_sequences):
                handles.append(submit(engine, generation))
            texts = [(await final(handle, request)).text for handle in handles]
        finally:
            for handle in handles:
                handle.cancel()
        return {"Result": "".join(_result_text(loaded.tokenizer, body, text) for text in texts)}

    return router


def _log_ignored(body: protocol.LegacyChatRequest) -> None:
    for name in body.generate_kwargs.ignored_fields():
        log.info("/chat: generate_kwargs.%s is accepted and not applied: %s", name,
                 protocol.IGNORED_GENERATE_KWARGS[name])
    if body._ignored_keys:
        log.info("/chat: unknown top-level keys %s ignored (a body with generate_kwargs, as Kaito's server did)",
                 protocol.printable(", ".join(body._ignored_keys)))
    if body.messages is not None and body.prefix is not None:
        log.info("/chat: prefix applies to prompt, not to messages; ignored")


def _prompt_chars(body: protocol.LegacyChatRequest) -> int:
    if body.messages is not None:
        return chat_chars(body.messages)
    return len(body.prefix or "") + len(body.prompt)


def _prompt_ids(tokenizer: Any, body: protocol.LegacyChatRequest) -> list[int]:
    if body.messages is not None:
        return encode_chat(tokenizer, body.messages)
    return encode_text(tokenizer, (body.prefix or "") + body.prompt)


def _generation_request(state: ServerState, body: protocol.LegacyChatRequest, prompt_ids: list[int]):
    loaded, _ = state.serving()
    kwargs = body.generate_kwargs
    asked = kwargs.max_new_tokens or kwargs.max_length - len(prompt_ids)
    if asked <= 0:
        raise ApiError(400, f"generate_kwargs.max_length={kwargs.max_length} counts the prompt's "
                            f"{len(prompt_ids)} tokens too; raise it or set max_new_tokens", "invalid_request")
    if body.handle_long_generation == "hole":
        prompt_ids = _hole(prompt_ids, asked, loaded.context_length)
    return GenerationRequest(
        prompt_ids=prompt_ids,
        max_new_tokens=max_new_tokens(state.options, loaded, len(prompt_ids), asked),
        sampling=legacy_sampling(kwargs, len(prompt_ids), _vocab_size(loaded.model)),
        adapter=select_adapter(loaded, None),
        model_label="default",
        timeout_s=state.options.request_timeout,
    )


def _hole(prompt_ids: list[int], new_tokens: int, context_length: int) -> list[int]:
    """``handle_long_generation="hole"``: drop the prompt's oldest tokens so that the new ones fit the context."""
    keep = context_length - new_tokens
    if keep <= 0:
        raise ApiError(400, f"{new_tokens} new tokens do not fit this model's context of {context_length} "
                            "tokens, even with handle_long_generation=hole", "context_length_exceeded")
    return prompt_ids[-keep:]


def legacy_sampling(kwargs: protocol.LegacyGenerateKwargs, prompt_len: int, vocab_size: int) -> Sampling:
    _check_token_ids(kwargs, vocab_size)
    return Sampling(
        temperature=kwargs.temperature if kwargs.do_sample else 0,
        top_p=kwargs.top_p,
        top_k=kwargs.top_k,
        typical_p=kwargs.typical_p,
        repetition_penalty=kwargs.repetition_penalty,
        min_new_tokens=max(0, kwargs.min_length - prompt_len),
        no_repeat_ngram_size=kwargs.no_repeat_ngram_size,
        bad_words_ids=tuple(tuple(_as_list(ids)) for ids in kwargs.bad_words_ids or ()),
        eos_token_ids=tuple(_as_list(kwargs.eos_token_id)) if kwargs.eos_token_id is not None else None,
        forced_eos_token_ids=tuple(_as_list(kwargs.forced_eos_token_id)),
    )


def _as_list(ids: int | list[int] | None) -> list[int]:
    return [] if ids is None else [ids] if isinstance(ids, int) else list(ids)


def _check_token_ids(kwargs: protocol.LegacyGenerateKwargs, vocab_size: int) -> None:
    fields = {
        "bad_words_ids": [i for ids in kwargs.bad_words_ids or () for i in _as_list(ids)],
        "eos_token_id": _as_list(kwargs.eos_token_id),
        "forced_eos_token_id": _as_list(kwargs.forced_eos_token_id),
    }
    for name, ids in fields.items():
        if any(i >= vocab_size for i in ids):
            raise ApiError(400, f"generate_kwargs.{name}: token ids must be below this model's vocabulary size "
                                f"{vocab_size}", "invalid_request")


def _vocab_size(model: Any) -> int:
    return model.get_output_embeddings().weight.shape[0]


def _result_text(tokenizer: Any, body: protocol.LegacyChatRequest, text: str) -> str:
    if body.clean_up_tokenization_spaces:
        text = tokenizer.clean_up_tokenization(text)
    if body.prompt is not None and body.messages is None and body.return_full_text:
        text = body.prompt + text
    return text
