"""Token-by-token text assembly: streamed pieces add up to the decoded text, and stop strings cut it exactly."""

from __future__ import annotations

import pytest
from kaito_runtime.inference.decoding import TextAssembler
from transformers import AutoTokenizer

TEXT = "kaito serves über-fast models 🚀 to every client, then the quick brown fox stops"


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def stream(tokenizer, text: str, stop: list[str]) -> tuple[list[str], TextAssembler]:
    assembler = TextAssembler(tokenizer, tokenizer("prompt:")["input_ids"], stop)
    pieces = []
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        assembler.add(token)
        pieces.append(assembler.take_ready())
    pieces.append(assembler.finish())
    return pieces, assembler


def test_streamed_pieces_add_up_to_the_decoded_text_including_multibyte_characters(tokenizer):
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(TEXT.split()), "byte-level tokens split the emoji and umlaut across tokens"

    pieces, assembler = stream(tokenizer, TEXT, stop=[])

    assert "".join(pieces) == assembler.text == tokenizer.decode(ids) == TEXT
    assert not assembler.stopped
    assert all("\ufffd" not in piece for piece in pieces), "no half characters are streamed"


def test_earliest_stop_string_cuts_the_text_even_across_token_boundaries(tokenizer):
    pieces, assembler = stream(tokenizer, TEXT, stop=["fox", "ast mod"])

    assert assembler.stopped
    assert assembler.text == "".join(pieces) == "kaito serves über-f"


def test_text_that_could_start_a_stop_string_is_held_back_until_it_cannot(tokenizer):
    assembler = TextAssembler(tokenizer, [], stop=["brown fox"])
    released = ""
    for token in tokenizer("the quick brown cat", add_special_tokens=False)["input_ids"]:
        assembler.add(token)
        released += assembler.take_ready()
        assert len(assembler.text) - len(released) <= len("brown fox") - 1

    assert released + assembler.finish() == "the quick brown cat"
    assert not assembler.stopped


def test_tokens_after_a_stop_are_ignored(tokenizer):
    assembler = TextAssembler(tokenizer, [], stop=["quick"])
    for token in tokenizer("the quick brown", add_special_tokens=False)["input_ids"]:
        assembler.add(token)

    assert assembler.finish() == "the "
    assert assembler.text == "the " and assembler.stopped
