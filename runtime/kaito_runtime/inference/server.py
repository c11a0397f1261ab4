"""Entry point: parse the contract's flags, open the port at once, load the model behind it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import uvicorn
from prometheus_client import disable_created_metrics

from .app import create_app
from .cli import parse_options
from .http_guard import guarded_protocol
from .metrics import Metrics
from .state import ServerState
from .threads import apply_thread_limit


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options.threads = apply_thread_limit(options.threads)
    disable_created_metrics()
    state = ServerState(options=options, metrics=Metrics())
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(state),
            host=options.host,
            port=options.port,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=10,
            http=guarded_protocol(options.header_timeout, options.max_connections, options.max_header_bytes),
            timeout_keep_alive=options.keep_alive_timeout,
        )
    )

    def exit_after_failed_load() -> None:
        server.should_exit = True

    state.on_load_failure = exit_after_failed_load
    server.run()
    return 1 if state.load_error is not None else 0
