"""Where prompts are tokenised: short ones on the event loop (cheaper than a thread-pool hop), long ones in a
worker thread so that they cannot stall the other streams the loop serves."""

from __future__ import annotations

import asyncio
import threading

from kaito_runtime.inference.serving import INLINE_PROMPT_CHARS, encode_prompt


def _thread_that_encodes(chars: int) -> threading.Thread:
    async def main() -> threading.Thread:
        return await encode_prompt(chars, threading.current_thread)

    return asyncio.run(main())


def test_short_prompts_are_encoded_on_the_event_loop_and_long_ones_in_a_worker_thread():
    assert _thread_that_encodes(INLINE_PROMPT_CHARS) is threading.current_thread()
    assert _thread_that_encodes(INLINE_PROMPT_CHARS + 1) is not threading.current_thread()
