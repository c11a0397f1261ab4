"""``POST /chat`` takes Kaito's documented request in both shapes and applies what changes generation (issue #16).

Every applied field is checked against transformers' own ``generate`` run in-process with the same value, on the
default model (the base plus the seed's adapter); the fields that are accepted and not applied are logged.
"""

from __future__ import annotations

import concurrent.futures

import httpx
import openai
import pytest

PROMPT = "kaito serves models"
# Kaito's GenerateKwargs, every field at its documented default (pad/eos ids are the tiny tokenizer's).
KAITO_DEFAULTS = {
    "max_length": 200, "min_length": 0, "do_sample": True, "early_stopping": False, "num_beams": 1,
    "num_beam_groups": 1, "diversity_penalty": 0.0, "temperature": 1.0, "top_k": 10, "top_p": 1, "typical_p": 1,
    "repetition_penalty": 1, "length_penalty": 1, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
    "bad_words_ids": None, "num_return_sequences": 1, "output_scores": False, "return_dict_in_generate": False,
    "pad_token_id": 3, "eos_token_id": 2, "forced_bos_token_id": None, "forced_eos_token_id": None,
    "remove_invalid_values": None,
}


def chat(server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat", json=body, timeout=120)


def reference(reference_lm, prompt_ids: list[int], new_tokens: int, **kwargs) -> tuple[str, list[int]]:
    """Greedy continuation by ``generate`` in-process on the default model: its text and token ids."""
    import torch

    model = reference_lm.peft_model
    model.set_adapter("default")
    inputs = {"input_ids": torch.tensor([prompt_ids]), "attention_mask": torch.ones(1, len(prompt_ids), dtype=int)}
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False,
                                pad_token_id=reference_lm.tokenizer.pad_token_id, **kwargs)
    ids = output[0, len(prompt_ids):].tolist()
    return reference_lm.tokenizer.decode(ids, skip_special_tokens=True), ids


@pytest.fixture(scope="module")
def greedy_ids(reference_lm) -> list[int]:
    return reference(reference_lm, reference_lm.text_ids(PROMPT), 12)[1]


def test_every_documented_field_is_accepted_in_the_nested_shape(seed_server):
    response = chat(seed_server, {"prompt": PROMPT, "return_full_text": True, "clean_up_tokenization_spaces": False,
                                  "prefix": None, "handle_long_generation": None,
                                  "generate_kwargs": {**KAITO_DEFAULTS, "max_length": 12}})

    assert response.status_code == 200, response.text
    assert response.json()["Result"].startswith(PROMPT)


def test_the_flat_shape_gives_what_the_nested_shape_gives(seed_server, reference_lm):
    kwargs = {"do_sample": False, "max_new_tokens": 10, "num_beams": 1, "temperature": 0.7}

    flat = chat(seed_server, {"prompt": PROMPT, **kwargs})
    nested = chat(seed_server, {"prompt": PROMPT, "generate_kwargs": kwargs})
    mixed = chat(seed_server, {"prompt": PROMPT, "max_new_tokens": 99, "generate_kwargs": kwargs})

    expected = PROMPT + reference(reference_lm, reference_lm.text_ids(PROMPT), 10)[0]
    assert flat.json() == nested.json() == mixed.json() == {"Result": expected}


@pytest.mark.parametrize("case", ["no_repeat_ngram_size", "repetition_penalty", "bad_words_ids", "eos_token_id",
                                  "forced_eos_token_id", "min_length"])
def test_fields_that_change_generation_are_applied_as_generate_applies_them(seed_server, reference_lm,
                                                                            greedy_ids, case):
    prompt_ids = reference_lm.text_ids(PROMPT)
    value = {
        "no_repeat_ngram_size": 1,
        "repetition_penalty": 3.0,
        "bad_words_ids": [[greedy_ids[0]], greedy_ids[2:4]],
        "eos_token_id": greedy_ids[5],
        "forced_eos_token_id": greedy_ids[3],
        "min_length": len(prompt_ids) + 12,
    }[case]
    generate_value = {"eos_token_id": [greedy_ids[5]]}.get(case, value)

    answer = chat(seed_server, {"prompt": PROMPT, "return_full_text": False,
                                "generate_kwargs": {"do_sample": False, "max_new_tokens": 12, case: value}})

    expected, _ = reference(reference_lm, prompt_ids, 12, **{case: generate_value})
    assert answer.status_code == 200, answer.text
    assert answer.json()["Result"] == expected
    if case != "min_length":
        assert expected != reference(reference_lm, prompt_ids, 12)[0], "the case must change the output"


def test_num_return_sequences_concatenates_the_sequences(seed_server, reference_lm):
    kwargs = {"do_sample": False, "max_new_tokens": 6, "num_return_sequences": 3}

    answer = chat(seed_server, {"prompt": PROMPT, "generate_kwargs": kwargs})

    one = PROMPT + reference(reference_lm, reference_lm.text_ids(PROMPT), 6)[0]
    assert answer.json() == {"Result": one * 3}


def test_prefix_is_generated_from_but_not_returned(seed_server, reference_lm):
    answer = chat(seed_server, {"prompt": PROMPT, "prefix": "the quick brown fox. ",
                                "generate_kwargs": {"do_sample": False, "max_new_tokens": 8}})

    continuation, _ = reference(reference_lm, reference_lm.text_ids("the quick brown fox. " + PROMPT), 8)
    assert answer.json() == {"Result": PROMPT + continuation}


def test_hole_drops_the_oldest_prompt_tokens_to_fit_the_context(seed_server):
    long_prompt = "kaito serves models on gpu nodes " * 400
    body = {"prompt": long_prompt, "return_full_text": False,
            "generate_kwargs": {"do_sample": False, "max_new_tokens": 8}}

    refused = chat(seed_server, body)
    answered = chat(seed_server, {**body, "handle_long_generation": "hole"})

    assert refused.status_code == 400 and "context" in refused.json()["detail"]
    assert answered.status_code == 200, answered.text


def test_fields_not_applied_are_accepted_and_logged(seed_server):
    kwargs = {"do_sample": False, "max_new_tokens": 2, "num_beams": 4, "num_beam_groups": 2,
              "diversity_penalty": 0.5, "length_penalty": 2.0, "early_stopping": True, "forced_bos_token_id": 5}

    answer = chat(seed_server, {"prompt": PROMPT, "generate_kwargs": kwargs, "stream": True})

    assert answer.status_code == 200
    log = seed_server.log()
    for name in ("num_beams", "num_beam_groups", "diversity_penalty", "length_penalty", "early_stopping",
                 "forced_bos_token_id"):
        assert f"generate_kwargs.{name} is accepted and not applied" in log
    assert "unknown top-level keys stream ignored" in log


def test_unknown_keys_are_refused_where_kaito_refused_them(seed_server):
    flat = chat(seed_server, {"prompt": PROMPT, "max_new_tokens": 2, "sream": True})
    nested = chat(seed_server, {"prompt": PROMPT, "generate_kwargs": {"max_new_tokens": 2, "streamer": 1}})

    assert (flat.status_code, flat.json()) == (400, {"detail": "sream: Extra inputs are not permitted"})
    assert (nested.status_code, nested.json()) == (
        400, {"detail": "generate_kwargs.streamer: Extra inputs are not permitted"})


def test_concurrent_requests_each_keep_their_own_sampling(seed_server, reference_lm, served_name):
    """Greedy and sampled requests share the running batch; the greedy ones still match ``generate``, and a
    seeded sampled request gives the same text alone and in company."""
    client = openai.OpenAI(base_url=f"{seed_server.base_url}/v1", api_key="x", max_retries=0, timeout=60)
    prompts = [f"the quick brown fox {i}" for i in range(4)]

    def greedy(prompt: str) -> str:
        return client.completions.create(model=served_name, prompt=prompt, max_tokens=10, temperature=0,
                                         extra_body={"min_tokens": 10}).choices[0].text

    def seeded() -> str:
        return client.completions.create(model=served_name, prompt=PROMPT, max_tokens=10, temperature=1.5,
                                         top_p=0.9, seed=7, extra_body={"top_k": 50}).choices[0].text

    alone = seeded()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        sampled = [pool.submit(seeded) for _ in range(3)]
        greedy_texts = list(pool.map(greedy, prompts))

    for prompt, text in zip(prompts, greedy_texts, strict=True):
        assert text == reference_lm.greedy(reference_lm.text_ids(prompt), 10, model="base", min_new_tokens=10)
    assert [future.result() for future in sampled] == [alone] * 3
