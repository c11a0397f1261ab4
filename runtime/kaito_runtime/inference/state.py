"""The server's state shared by its routes, and the background thread that loads the model into it."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ApiError
from .metrics import Metrics
from .weights import locate

if TYPE_CHECKING:
    from .generation import Engine
    from .loading import LoadedModel

log = logging.getLogger(__name__)


@dataclass
class ServerState:
    options: argparse.Namespace
    metrics: Metrics
    loaded: LoadedModel | None = None
    engine: Engine | None = None
    load_error: BaseException | None = None
    on_load_failure: Callable[[], None] = lambda: None

    def serving(self) -> tuple[LoadedModel, Engine]:
        if self.loaded is None or self.engine is None:
            raise ApiError(503, "the model is still loading", "model_loading", {"Retry-After": "5"})
        return self.loaded, self.engine


def load_in_background(state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
    """Load the model, warm it up and start the engine; on failure ask the server to exit."""
    try:
        options = state.options
        located = locate(options)  # before the heavy imports below: a wrong reference fails in about a second

        import torch
        from transformers.utils import logging as transformers_logging

        from .loading import load, warm_up
        from .scheduling import start_engine

        transformers_logging.disable_progress_bar()
        torch.set_num_threads(options.threads)
        loaded = load(options, located)
        warm_up(loaded)
        engine = start_engine(options, loaded, state.metrics, loop)
        state.loaded, state.engine = loaded, engine
        state.metrics.model_ready.set(1)
        log.info("ready: serving %s with %s", ", ".join(loaded.model_ids()), type(engine).__name__)
    except BaseException as error:  # noqa: BLE001 - any failure must stop the pod, visibly
        log.exception("model loading failed")
        state.load_error = error
        loop.call_soon_threadsafe(state.on_load_failure)
