"""The continuous-batching scheduler in process, driven one worker round at a time (no thread, no HTTP).

Requests join a running batch at chosen rounds, most of them inside its decode step (fused prefill), one with a
prompt too long for that (a prefill pass of its own); rows leave at different rounds, so the cache columns they
alone used are dropped while the others keep going. Every row must still produce what ``generate`` produces for
its prompt alone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from kaito_runtime.inference.generation import Finished, GenerationRequest, RequestHandle, Sampling, TextDelta
from kaito_runtime.inference.loading import LoadedModel, load_tokenizer
from kaito_runtime.inference.metrics import Metrics
from kaito_runtime.inference.scheduler import FUSED_PROMPT_TOKENS, STREAM_INTERVAL_S, StepScheduler, _Outbox

GREEDY = Sampling(temperature=0)


@pytest.fixture(scope="module")
def loaded(tiny_model_dir: Path) -> LoadedModel:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    tokenizer = load_tokenizer(tiny_model_dir, trust_remote_code=False)
    return LoadedModel(model=model, tokenizer=tokenizer, served_name="tiny", context_length=2048,
                       input_device=torch.device("cpu"))


def request(loaded: LoadedModel, text: str, new_tokens: int, sampling: Sampling = GREEDY) -> GenerationRequest:
    sampling = Sampling(**{**sampling.__dict__, "min_new_tokens": new_tokens})
    return GenerationRequest(prompt_ids=loaded.tokenizer(text)["input_ids"], max_new_tokens=new_tokens,
                             sampling=sampling, adapter=None, model_label="tiny")


def alone(loaded: LoadedModel, req: GenerationRequest) -> str:
    """What ``generate`` answers for this request on its own."""
    kwargs = req.sampling.generate_kwargs()
    if req.sampling.seed is not None:
        raise ValueError("sampled requests are compared with the scheduler serving them alone")
    with torch.inference_mode():
        output = loaded.model.generate(torch.tensor([req.prompt_ids]), max_new_tokens=req.max_new_tokens,
                                       pad_token_id=loaded.tokenizer.pad_token_id, **kwargs)
    return loaded.tokenizer.decode(output[0, len(req.prompt_ids):], skip_special_tokens=True)


def serve(loaded: LoadedModel, arrivals: dict[int, list[GenerationRequest]]) -> tuple[list[str], int]:
    """Run the scheduler round by round, submitting ``arrivals[n]`` before round ``n``; return every request's
    text (in submission order) and the number of forward passes."""
    loop = asyncio.new_event_loop()
    metrics = Metrics()
    scheduler = StepScheduler(loaded, metrics, loop, max_batch_size=8, max_queue_size=8)
    handles = []
    try:
        for round_number in range(200):
            for req in arrivals.get(round_number, []):
                handles.append(scheduler.submit(req))
            if round_number > max(arrivals) and scheduler._batch is None:
                break
            with torch.inference_mode():
                scheduler._iterate(scheduler._wait_for_work())
        loop.run_until_complete(asyncio.sleep(0))  # deliver the events the scheduler handed to the loop
        texts = []
        for handle in handles:
            events = [handle.events.get_nowait() for _ in range(handle.events.qsize())]
            assert isinstance(events[-1], Finished), events
            texts.append(events[-1].text)
    finally:
        loop.close()
    passes = metrics.registry.get_sample_value("kaito_inference_batch_size_count")
    return texts, int(passes)


def test_rows_joining_a_running_batch_get_the_greedy_tokens_they_get_alone(loaded):
    long_prompt = " ".join(["kaito compiles workspace yaml"] * 12)
    assert len(loaded.tokenizer(long_prompt)["input_ids"]) > FUSED_PROMPT_TOKENS
    arrivals = {
        0: [request(loaded, "the quick brown fox jumps over", 16)],
        3: [request(loaded, "kaito", 6), request(loaded, "serves models on gpu nodes with", 12)],
        5: [request(loaded, "a lazy dog", 10)],
        7: [request(loaded, long_prompt, 5)],
    }

    texts, passes = serve(loaded, arrivals)

    expected = [alone(loaded, req) for reqs in arrivals.values() for req in reqs]
    assert texts == expected
    assert all(expected), "every request must produce text for the comparison to mean anything"
    # The first request's 16 tokens take 16 passes (its own prefill, then one step per round) and every other row
    # finishes within them; only the long prompt adds a prefill pass: rounds 3 and 5 admitted inside the step.
    assert passes == 16 + 1


def test_a_seeded_sampled_row_draws_the_same_tokens_joining_a_batch_as_alone(loaded):
    sampled = Sampling(temperature=0.8, top_p=0.9, seed=7)
    joining = request(loaded, "tokens stream from the server", 12, sampled)

    together, _ = serve(loaded, {0: [request(loaded, "the quick brown fox", 16)], 2: [joining]})
    by_itself, _ = serve(loaded, {0: [joining]})

    assert together[1] == by_itself[0] and by_itself[0]


def test_streamed_text_waits_for_the_tick_while_first_tokens_and_ends_go_at_once():
    """The outbox hands text to the loop once per tick; a request's first token or end goes at once with that
    request's own held text only, and a round with nothing to send hands nothing over."""
    loop = asyncio.new_event_loop()
    now = [100.0]
    outbox = _Outbox(loop, clock=lambda: now[0])
    a, b = (RequestHandle(GenerationRequest([1], 8, GREEDY, adapter=None, model_label="tiny", stream=True))
            for _ in range(2))

    def delivered() -> list[list]:
        loop.run_until_complete(asyncio.sleep(0))
        return [[h.events.get_nowait() for _ in range(h.events.qsize())] for h in (a, b)]

    try:
        outbox.add([(a, TextDelta("a1")), (b, TextDelta("b1"))], first_tokens=[a, b])
        assert delivered() == [[TextDelta("a1")], [TextDelta("b1")]]
        now[0] = 100.0 + STREAM_INTERVAL_S / 4
        outbox.add([(a, TextDelta("a2")), (b, TextDelta("b2"))])
        assert delivered() == [[], []]
        now[0] = 100.0 + STREAM_INTERVAL_S / 2
        done = Finished("b1b2", "length", 1, 2)
        outbox.add([(a, TextDelta("a3")), (b, done)])
        outbox.add([])
        assert delivered() == [[], [TextDelta("b2"), done]]
        now[0] = 100.0 + STREAM_INTERVAL_S
        outbox.add([(a, TextDelta("a4"))])
        assert delivered() == [[TextDelta("a2a3a4")], []]
    finally:
        loop.close()
