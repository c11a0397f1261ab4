"""Choose and start the generation engine ``--scheduler`` names."""

from __future__ import annotations

import argparse
import asyncio
import logging

from .engine import BatchingEngine
from .generation import Engine
from .loading import LoadedModel
from .metrics import Metrics
from .scheduler import StepScheduler, supports

log = logging.getLogger(__name__)


def start_engine(options: argparse.Namespace, loaded: LoadedModel, metrics: Metrics,
                 loop: asyncio.AbstractEventLoop) -> Engine:
    engine: Engine
    if options.scheduler == "continuous" and not supports(loaded):
        log.warning("continuous batching needs a plain full-attention KV cache; this model is served with "
                    "--scheduler=dynamic")
    if options.scheduler == "continuous" and supports(loaded):
        engine = StepScheduler(loaded, metrics, loop, max_batch_size=options.max_batch_size,
                               max_queue_size=options.max_queue_size)
    else:
        engine = BatchingEngine(loaded, metrics, loop, max_batch_size=options.max_batch_size,
                                batch_window_s=options.batch_window_ms / 1000, max_queue_size=options.max_queue_size)
    engine.start()
    return engine
