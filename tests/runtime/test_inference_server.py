"""The seed workspace's inference server, run from its contract command line, spoken to like real clients do."""

from __future__ import annotations

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what does kaito compile"}]


@pytest.fixture(scope="module")
def adapter(seed_adapter) -> str:
    return seed_adapter[0]


@pytest.fixture(scope="module")
def client(seed_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{seed_server.base_url}/v1", api_key="not-checked", max_retries=0, timeout=60)


def metric_values(base_url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    text = httpx.get(f"{base_url}/metrics").text
    values: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values.setdefault(sample.name, []).append((sample.labels, sample.value))
    return values


def metric(values: dict, name: str, **labels: str) -> float:
    return sum(v for found, v in values.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def test_health_reports_ready_and_models_lists_base_and_adapter(seed_server, client, served_name, adapter):
    health = httpx.get(f"{seed_server.base_url}/health")
    assert (health.status_code, health.json()) == (200, {"status": "Healthy"})

    models = {m.id: m for m in client.models.list()}

    assert list(models) == [served_name, adapter]
    assert models[adapter].model_extra["parent"] == served_name


def test_chat_completion_matches_transformers_generate_in_process(client, reference_lm, served_name):
    answer = client.chat.completions.create(
        model=served_name, messages=MESSAGES, max_tokens=12, temperature=0, extra_body={"min_tokens": 12}
    )

    prompt_ids = reference_lm.chat_ids(MESSAGES)
    assert answer.object == "chat.completion" and answer.model == served_name
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == reference_lm.greedy(prompt_ids, 12, model="base", min_new_tokens=12)
    assert answer.choices[0].finish_reason == "length"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (len(prompt_ids), 12)
    assert answer.usage.total_tokens == len(prompt_ids) + 12


def test_streamed_chat_carries_the_same_text_and_usage(client, adapter):
    request = dict(model=adapter, messages=MESSAGES, max_tokens=10, temperature=0, extra_body={"min_tokens": 10})
    whole = client.chat.completions.create(**request).choices[0].message.content

    chunks = list(client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True}))

    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == whole
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 10


def test_stream_ends_with_done_sentinel(seed_server, served_name):
    body = {"model": served_name, "messages": MESSAGES, "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{seed_server.base_url}/v1/chat/completions", json=body, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]

    assert events[-1] == "data: [DONE]"
    assert all(line.startswith("data: {") for line in events[:-1])


def test_completion_streamed_and_whole_match_in_process_adapter_output(client, reference_lm, adapter):
    prompt = "the quick brown fox"
    request = dict(model=adapter, prompt=prompt, max_tokens=8, temperature=0, extra_body={"min_tokens": 8})

    whole = client.completions.create(**request)
    streamed = "".join(c.choices[0].text for c in client.completions.create(**request, stream=True))

    expected = reference_lm.greedy(reference_lm.text_ids(prompt), 8, model="adapter", min_new_tokens=8)
    assert whole.object == "text_completion"
    assert whole.choices[0].text == streamed == expected
    assert whole.usage.prompt_tokens == len(reference_lm.text_ids(prompt))


def test_stop_string_cuts_the_text_before_it(client, served_name):
    request = dict(model=served_name, prompt="hello fox", max_tokens=24, temperature=0, extra_body={"min_tokens": 24})
    full = client.completions.create(**request).choices[0].text
    stop = full[6:9]
    expected = full[: full.index(stop)]

    whole = client.completions.create(**request, stop=[stop, "never-appears"])
    streamed = "".join(c.choices[0].text for c in client.completions.create(**request, stop=stop, stream=True))

    assert (whole.choices[0].text, whole.choices[0].finish_reason) == (expected, "stop")
    assert streamed == expected
    assert whole.usage.completion_tokens < 24


def test_legacy_chat_returns_prompt_and_continuation_in_result(seed_server, reference_lm):
    prompt = "kaito serves models"
    kwargs = {"do_sample": False, "max_new_tokens": 10, "min_length": 0}
    url = f"{seed_server.base_url}/chat"

    full = httpx.post(url, json={"prompt": prompt, "generate_kwargs": kwargs}, timeout=60)
    bare = httpx.post(url, json={"prompt": prompt, "return_full_text": False, "generate_kwargs": kwargs}, timeout=60)
    sampled = httpx.post(url, json={"prompt": prompt}, timeout=60)  # Kaito's defaults: sampling, max_length 200

    # No `model` on /chat: the default model, the base plus the adapter at the seed's strength.
    continuation = reference_lm.greedy(reference_lm.text_ids(prompt), 10, model="default")
    assert full.status_code == bare.status_code == sampled.status_code == 200
    assert full.json() == {"Result": prompt + continuation}
    assert bare.json() == {"Result": continuation}
    assert sampled.json()["Result"].startswith(prompt)


def test_legacy_chat_rejects_a_body_without_prompt_and_unknown_generate_kwargs(seed_server):
    url = f"{seed_server.base_url}/chat"

    missing = httpx.post(url, json={})
    unknown = httpx.post(url, json={"prompt": "x", "generate_kwargs": {"num_beams": 4, "streamer": "x"}})

    assert (missing.status_code, missing.json()) == (400, {"detail": "Text generation parameter prompt required"})
    assert unknown.status_code == 400
    assert unknown.json() == {"detail": "generate_kwargs.streamer: Extra inputs are not permitted"}


def test_bad_requests_get_clear_openai_errors(seed_server, client, served_name):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model=served_name, messages=MESSAGES, max_tokens=100_000)
    with pytest.raises(openai.BadRequestError) as unsupported:
        client.chat.completions.create(model=served_name, messages=MESSAGES, n=2, logprobs=True)
    huge = httpx.post(f"{seed_server.base_url}/v1/completions", json={"prompt": "x" * (2 << 20)})

    assert unknown.value.code == "model_not_found" and served_name in unknown.value.message
    assert too_long.value.code == "max_tokens_too_large" and "--max-tokens-limit" in too_long.value.message
    assert "n:" in unsupported.value.message and "logprobs" in unsupported.value.message
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_metrics_count_requests_tokens_errors_and_time_to_first_token(seed_server, client, adapter):
    before = metric_values(seed_server.base_url)
    client.completions.create(model=adapter, prompt="metrics", max_tokens=5, temperature=0,
                              extra_body={"min_tokens": 5})
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="missing", prompt="metrics")
    after = metric_values(seed_server.base_url)

    def grew(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    route = "/v1/completions"
    assert grew("kaito_inference_http_requests_total", route=route, method="POST", status="200") == 1
    assert grew("kaito_inference_request_errors_total", route=route, reason="model_not_found") == 1
    assert grew("kaito_inference_request_duration_seconds_count", route=route) == 2
    assert grew("kaito_inference_time_to_first_token_seconds_count", model=adapter) == 1
    assert grew("kaito_inference_generation_tokens_total", model=adapter) == 5
    assert grew("kaito_inference_prompt_tokens_total", model=adapter) > 0
    assert grew("kaito_inference_batch_size_count") == 5  # a prefill gives the first token, 4 decode steps the rest
    assert "vllm:num_requests_waiting" in after and "vllm:num_requests_running" in after  # KEDA reads these
    assert metric(after, "vllm:num_requests_waiting") == 0
    assert metric(after, "kaito_inference_model_ready") == 1


@pytest.fixture(scope="module")
def dynamic_server(launch_server, seed_argv, seed_runtime_root):
    """The same command with the generate-based batcher instead of continuous batching."""
    return launch_server([*seed_argv, "--scheduler=dynamic"], {"KAITO_RUNTIME_ROOT": str(seed_runtime_root)})


def test_the_dynamic_scheduler_answers_what_generate_answers(dynamic_server, reference_lm, adapter):
    client = openai.OpenAI(base_url=f"{dynamic_server.base_url}/v1", api_key="x", max_retries=0, timeout=60)
    request = dict(model=adapter, prompt="the quick brown fox", max_tokens=8, temperature=0,
                   extra_body={"min_tokens": 8})

    whole = client.completions.create(**request).choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(**request, stream=True))

    expected = reference_lm.greedy(reference_lm.text_ids("the quick brown fox"), 8, model="adapter", min_new_tokens=8)
    assert whole == streamed == expected
    assert "with BatchingEngine" in dynamic_server.log()
