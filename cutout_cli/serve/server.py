"""Listening: the aiohttp runner, the access log on stderr, a clean stop on SIGTERM or SIGINT.

A stop closes the listening socket at once, lets the requests in flight finish
(up to ``SHUTDOWN_SECONDS``), then returns: ``cutout serve`` exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from ..errors import InputError

__all__ = ["serve", "SHUTDOWN_SECONDS", "ACCESS_FORMAT"]

SHUTDOWN_SECONDS = 10.0
#: one line per request: client, time, request line, status, bytes, seconds, user agent
ACCESS_FORMAT = '%a %t "%r" %s %b %Tf "%{User-Agent}i"'


#: what aiohttp's own parser takes before a request reaches the service's checks (which are tighter: a
#: parameter at most 4096 characters); an idle keep-alive connection is closed after KEEPALIVE_SECONDS
PARSER_LIMITS = {"max_line_size": 65536, "max_field_size": 16384, "max_headers": 100, "keepalive_timeout": 15.0}


class _OneLine(logging.Filter):
    """HTTP that aiohttp cannot parse (garbage, a line over the limits) logged as one line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            reason = str(error).splitlines()[0][:200] if str(error) else ""
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {reason}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return True


def _http_logger() -> logging.Logger:
    logger = logging.getLogger("cutout.serve.http")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cutout serve: %(message)s"))
        handler.addFilter(_OneLine())
        logger.addHandler(handler)
        logger.propagate = False
    return logger


def _access_logger(enabled: bool) -> logging.Logger | None:
    if not enabled:
        return None
    logger = logging.getLogger("cutout.serve.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


async def serve(app: web.Application, host: str, port: int, *, access_log: bool = True, announce=print) -> None:
    """Serve ``app`` on ``host``:``port`` (0: any free port) until SIGTERM or SIGINT.

    ``announce(text)`` is told the address once listening, and the stop.
    """
    errors = logging.getLogger("cutout.serve")
    if not errors.handlers:
        errors.addHandler(logging.StreamHandler(sys.stderr))
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_SECONDS,
                           access_log=_access_logger(access_log), access_log_format=ACCESS_FORMAT,
                           logger=_http_logger(), **PARSER_LIMITS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as err:
        await runner.cleanup()
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}",
                         "choose another {} (0: any free port) or {}", options=[("port", None), ("host", None)]) from None
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    announce(f"cutout serve: SODA sync at http://{shown}:{bound_port}/sync (capabilities, availability, "
             f"/api/cutout, /api/query); SIGTERM or Ctrl-C stops")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        announce("cutout serve: stopping (finishing the requests in flight)")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()
