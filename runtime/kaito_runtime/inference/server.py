"""Entry point: parse the contract's flags, open the port at once, load the model behind it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import uvicorn
from prometheus_client import disable_created_metrics

from kaito_runtime.hub import MODEL_UNAVAILABLE_EXIT_CODE, ModelUnavailable

from .app import create_app
from .cli import parse_options
from .http_guard import guarded_protocol
from .metrics import Metrics
from .state import ServerState
from .threads import apply_thread_limit

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLineOperatorErrors(logging.Formatter):
    """A ``ModelUnavailable`` is the operator's to fix (weights volume, network, token), not a bug: it is logged as
    one line naming the model and the cache, without the traceback other load failures keep."""

    def format(self, record: logging.LogRecord) -> str:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ModelUnavailable):
            record = logging.makeLogRecord({**record.__dict__, "msg": f"{record.getMessage()}: {error}", "args": None,
                                            "exc_info": None, "exc_text": None})
        return super().format(record)


def exit_code(load_error: BaseException | None) -> int:
    if load_error is None:
        return 0
    return MODEL_UNAVAILABLE_EXIT_CODE if isinstance(load_error, ModelUnavailable) else 1


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineOperatorErrors(LOG_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
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
    return exit_code(state.load_error)
