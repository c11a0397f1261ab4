"""Turn one sequence's generated token ids into text, token by token, honouring OpenAI ``stop`` strings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenizers.decoders import DecodeStream

# Prompt tokens handed to the stream decoder as context, so the first generated token decodes with the right
# leading space (SentencePiece-style decoders strip it at the start of a sequence).
_PREFILL_TOKENS = 8


class TextAssembler:
    """Accumulates the text of one generated sequence.

    ``add`` feeds token ids as the model produces them; ``take_ready`` returns the text that is safe to stream
    (text that could still turn into a stop string is held back); ``finish`` returns whatever is left. When a stop
    string appears, the text is cut just before it and ``stopped`` becomes true.
    """

    def __init__(self, tokenizer: Any, prompt_ids: Sequence[int], stop: Sequence[str] = ()) -> None:
        self._tokenizer = tokenizer
        self._stream = DecodeStream(ids=list(prompt_ids[-_PREFILL_TOKENS:]), skip_special_tokens=True)
        self._stop = tuple(s for s in stop if s)
        self._holdback = max((len(s) for s in self._stop), default=1) - 1
        self.token_ids: list[int] = []
        self.text = ""
        self.stopped = False
        self._released = 0

    def add(self, token_id: int) -> None:
        """Append one generated token; ignored once a stop string has been seen."""
        if self.stopped:
            return
        self.token_ids.append(token_id)
        piece = self._stream.step(self._tokenizer.backend_tokenizer, token_id)
        if piece:
            self._append(piece)

    def take_ready(self) -> str:
        """Text not yet released that can no longer become part of a stop string."""
        limit = len(self.text) if self.stopped else len(self.text) - self._holdback
        return self._release_up_to(limit)

    def finish(self) -> str:
        """Flush bytes the stream decoder still buffers and return all text not yet released."""
        if not self.stopped:
            full = self._tokenizer.decode(self.token_ids, skip_special_tokens=True)
            if full.startswith(self.text):
                self._append(full[len(self.text) :])
        return self._release_up_to(len(self.text))

    def _append(self, piece: str) -> None:
        search_from = max(0, len(self.text) - self._holdback)
        self.text += piece
        cut = self._first_stop(search_from)
        if cut is not None:
            self.text = self.text[:cut]
            self.stopped = True

    def _first_stop(self, search_from: int) -> int | None:
        hits = [i for s in self._stop if (i := self.text.find(s, search_from)) >= 0]
        return min(hits, default=None)

    def _release_up_to(self, limit: int) -> str:
        if limit <= self._released:
            return ""
        chunk = self.text[self._released : limit]
        self._released = limit
        return chunk
