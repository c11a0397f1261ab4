"""Adapter strength, adapter selection by name, and requests for different adapters batched together.

Two servers: the seed's (its adapter at the seed's strength, 1.0) and the same command with
``--adapter-strength=<adapter>=0`` and a wide batch window, so that requests sent together deterministically land in
one ``generate`` call.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

PROMPT = "kaito compiles workspace yaml"
GREEDY = {"do_sample": False, "max_new_tokens": 12, "min_length": 0}


@pytest.fixture(scope="module")
def adapter(seed_adapter) -> str:
    return seed_adapter[0]


@pytest.fixture(scope="module")
def strength_zero_server(launch_server, seed_argv, seed_runtime_root, adapter):
    argv = [*seed_argv, f"--adapter-strength={adapter}=0", "--batch-window-ms=500", "--max-batch-size=8"]
    return launch_server(argv, {"KAITO_RUNTIME_ROOT": str(seed_runtime_root)})


def legacy_chat(base_url: str, prompt: str = PROMPT) -> str:
    """The seed call: ``POST /chat`` names no model, so it is answered by the default (strength-weighted) model."""
    response = httpx.post(f"{base_url}/chat", json={"prompt": prompt, "return_full_text": False,
                                                    "generate_kwargs": GREEDY}, timeout=60)
    response.raise_for_status()
    return response.json()["Result"]


def completion(base_url: str, prompt: str, model: str | None, client: httpx.Client | None = None) -> str:
    body = {"prompt": prompt, "max_tokens": 8, "min_tokens": 8, "temperature": 0, **({"model": model} if model else {})}
    response = (client or httpx).post(f"{base_url}/v1/completions", json=body, timeout=60)
    response.raise_for_status()
    return response.json()["choices"][0]["text"]


def test_strength_one_applies_the_adapter_and_strength_zero_gives_the_base_model(
    seed_server, strength_zero_server, reference_lm, seed_adapter
):
    assert seed_adapter[1] == 1.0
    prompt_ids = reference_lm.text_ids(PROMPT)
    with_adapter = reference_lm.greedy(prompt_ids, 12, model="default")
    base = reference_lm.greedy(prompt_ids, 12, model="base")
    assert with_adapter == reference_lm.greedy(prompt_ids, 12, model="adapter")  # strength 1: the adapter as trained
    assert with_adapter != base, "the fixture adapter must change the output for this test to mean anything"

    assert legacy_chat(seed_server.base_url) == with_adapter
    assert legacy_chat(strength_zero_server.base_url) == base


def test_model_name_selects_one_adapter_as_trained_or_the_bare_base(
    seed_server, strength_zero_server, reference_lm, served_name, adapter
):
    prompt = "the lazy dog"
    prompt_ids = reference_lm.text_ids(prompt)
    with_adapter = reference_lm.greedy(prompt_ids, 8, model="adapter", min_new_tokens=8)
    base = reference_lm.greedy(prompt_ids, 8, model="base", min_new_tokens=8)

    for server in (seed_server, strength_zero_server):  # strength shapes the default model only
        assert completion(server.base_url, prompt, adapter) == with_adapter
        assert completion(server.base_url, prompt, served_name) == base


def _batch_size_observations(base_url: str) -> tuple[float, float]:
    text = httpx.get(f"{base_url}/metrics").text
    found = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    return found["kaito_inference_batch_size_count"], found["kaito_inference_batch_size_sum"]


def test_requests_sent_together_share_one_batch_across_adapters_and_prompt_lengths(
    strength_zero_server, reference_lm, served_name, adapter
):
    url = strength_zero_server.base_url
    words = PROMPT.split()
    models = (served_name, adapter, None)
    cases = [(" ".join(words[: 1 + i % len(words)]) + " fox" * i, models[i % 3]) for i in range(8)]
    batches_before, rows_before = _batch_size_observations(url)
    start_together = threading.Barrier(len(cases))

    def send(case: tuple[str, str | None]) -> str:
        start_together.wait()
        return completion(url, *case, client=client)

    with httpx.Client() as client, ThreadPoolExecutor(len(cases)) as pool:
        answers = list(pool.map(send, cases))

    passes_after, rows_after = _batch_size_observations(url)
    # Every token came from a forward pass over several rows: alone, the 8 requests would take 64 passes.
    assert rows_after - rows_before == 8 * 8
    assert passes_after - batches_before <= 16, "the requests did not share forward passes"
    for (prompt, model), answer in zip(cases, answers, strict=True):
        # Left padding and peft's per-row adapters must not change any row's greedy tokens. On this server the
        # default model (no name) is the base: its adapter has strength 0.
        which = "adapter" if model == adapter else "base"
        expected = reference_lm.greedy(reference_lm.text_ids(prompt), 8, model=which, min_new_tokens=8)
        assert answer == expected, (prompt, model)
