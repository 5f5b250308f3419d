"""The aiohttp application: routes, middlewares, thin handlers.

Routes (``docs/serve.md`` documents them for clients):

=====================  ==========  ==================================================
``/sync``              GET, POST   SODA 1.0 sync: ``ID`` + ``POS``/``CIRCLE``/``POLYGON``
                                   -> the FITS cutout (204 when they do not overlap)
``/capabilities``      GET         VOSI capabilities (open without a token)
``/availability``      GET         VOSI availability (open without a token)
``/api/cutout``        GET, POST   ``ra``, ``dec``, ``size``, ``band`` (query string or a
                                   JSON object) -> the FITS ``cutout subset`` writes
``/api/query``         GET         ``pos`` (or ``ra`` + ``dec``), ``band``,
                                   ``dataset_type`` -> JSON list of datasets with ``id``
=====================  ==========  ==================================================

Errors: SODA/DALI text documents (``UsageError: ...``) on the SODA and VOSI
routes, ``{"error": code, "message": text}`` on ``/api``; the HTTP status says
the same (400 usage, 401 no token, 404 unknown dataset, 408 slow body, 413 large
body, 503 + ``Retry-After`` busy or past the deadline, 500 a fault of the service).
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial

from aiohttp import web

from ..errors import CutoutError
from .auth import Tokens
from .faults import Fault, fault_of, usage
from .limits import Gate, Limits
from .soda import query_request, sky_request, soda_request
from .vosi import availability, capabilities
from .work import call, redactor, worker_pool

__all__ = ["make_app", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 64 * 1024
PUBLIC = ("/capabilities", "/availability")
log = logging.getLogger("cutout.serve")

LIMITS = web.AppKey("limits", Limits)
LOCATOR = web.AppKey("locator", object)
REDACT = web.AppKey("redact", object)
GATE = web.AppKey("gate", Gate)
TOKENS = web.AppKey("tokens", Tokens)


def make_app(repo, limits: Limits | None = None, tokens: Tokens | None = None) -> web.Application:
    """The service over ``repo`` (an opened repository), within ``limits``; with ``tokens``, only requests
    that carry one are served (VOSI documents excepted)."""
    limits, tokens = limits or Limits(), tokens or Tokens()
    app = web.Application(middlewares=[_errors, _authenticate], client_max_size=MAX_BODY_BYTES)
    app[LIMITS], app[LOCATOR], app[REDACT], app[TOKENS] = limits, repo.locator(), redactor(repo.root), tokens
    app.on_startup.append(_start_gate)
    app.on_cleanup.append(_close_gate)
    app.router.add_route("GET", "/sync", _sync)
    app.router.add_route("POST", "/sync", _sync)
    app.router.add_get("/capabilities", _capabilities)
    app.router.add_get("/availability", _availability)
    app.router.add_route("GET", "/api/cutout", _sky_cutout)
    app.router.add_route("POST", "/api/cutout", _sky_cutout)
    app.router.add_get("/api/query", _query)
    app.router.add_get("/", _index)
    return app


async def _start_gate(app) -> None:
    """The gate (its semaphore belongs to the running loop) and its workers, started before listening."""
    limits = app[LIMITS]
    app[GATE] = gate = Gate(limits, partial(worker_pool, app[LOCATOR], limits))
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(gate.pool, call, "ping") for _ in range(limits.concurrency)))


async def _close_gate(app) -> None:
    app[GATE].close()


# -- middlewares --------------------------------------------------------------------
def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _answer(request, fault: Fault) -> web.Response:
    if _is_api(request):
        return web.json_response({"error": fault.code, "message": fault.message}, status=fault.status,
                                 headers=fault.headers())
    return web.Response(text=f"{fault}\n", status=fault.status, content_type="text/plain", headers=fault.headers())


@web.middleware
async def _errors(request, handler):
    try:
        return await handler(request)
    except Fault as fault:
        return _answer(request, fault)
    except CutoutError as err:
        return _answer(request, fault_of(err, request.app[REDACT]))
    except web.HTTPException as http:
        if http.status < 400:
            raise
        code = "UsageError" if http.status < 500 else "Error"
        return _answer(request, Fault(code, http.status, http.reason.lower()))
    except Exception:  # a bug: the client learns only that; the log has the traceback
        log.exception("internal error answering %s %s", request.method, request.path_qs[:200])
        return _answer(request, Fault("Error", 500, "internal error of the service (see its log)"))


@web.middleware
async def _authenticate(request, handler):
    tokens = request.app[TOKENS]
    if tokens and request.path not in PUBLIC and not tokens.accepts(request.headers.get("Authorization")):
        fault = Fault("AuthenticationError", 401, "a bearer token is required (Authorization: Bearer <token>)")
        response = _answer(request, fault)
        response.headers["WWW-Authenticate"] = 'Bearer realm="cutout"'
        return response
    return await handler(request)


# -- handlers -----------------------------------------------------------------------
async def _parameters(request) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of the query string, and of a form body (POST), read within the limit."""
    pairs = list(request.query.items())
    if request.method == "POST":
        try:
            body = await _within_body_timeout(request, request.post())
        except ValueError as err:  # a multipart body without its boundary, undecodable text, ...
            raise usage(f"cannot read the form body ({str(err)[:100]}): send application/x-www-form-urlencoded "
                        "or multipart/form-data") from None
        pairs += [(name, value) for name, value in body.items() if isinstance(value, str)]
    return pairs


async def _within_body_timeout(request, reading):
    seconds = request.app[LIMITS].body_timeout
    try:
        return await asyncio.wait_for(reading, seconds)
    except TimeoutError:
        raise Fault("UsageError", 408, f"the request body did not arrive within {seconds:g} s") from None


def _fits_response(data: bytes, name: str) -> web.Response:
    return web.Response(body=data, content_type="application/fits",
                        headers={"Content-Disposition": f'inline; filename="{name}"'})


async def _sync(request) -> web.Response:
    soda = soda_request(await _parameters(request))
    data, name = await request.app[GATE].run(call, "soda", soda)
    if data is None:
        return web.Response(status=204)
    return _fits_response(data, name)


async def _sky_cutout(request) -> web.Response:
    if request.method == "POST" and request.content_type == "application/json":
        try:
            params = json.loads(await _within_body_timeout(request, request.text()))
        except ValueError:
            raise usage("the body is not JSON: send an object such as "
                        '{"ra": 53.318792, "dec": -27.844306, "size": "60arcsec", "band": "r"}') from None
        if not isinstance(params, dict):
            raise usage("the JSON body must be an object with ra, dec, size, band")
    else:
        params = dict(await _parameters(request))
    data, name = await request.app[GATE].run(call, "sky", sky_request(params))
    return _fits_response(data, name)


async def _query(request) -> web.Response:
    records = await request.app[GATE].run(call, "query", query_request(dict(request.query)))
    return web.json_response(records)


async def _capabilities(request) -> web.Response:
    return web.Response(text=capabilities(_base_url(request)), content_type="text/xml")


async def _availability(request) -> web.Response:
    gate = request.app.get(GATE)
    note = f"{gate.running} cutouts running, {gate.waiting} waiting" if gate else "starting"
    return web.Response(text=availability(True, note), content_type="text/xml")


async def _index(request) -> web.Response:
    base = _base_url(request)
    return web.json_response({"service": "cutout SODA 1.0 sync", "sync": f"{base}/sync",
                              "capabilities": f"{base}/capabilities", "availability": f"{base}/availability",
                              "cutout": f"{base}/api/cutout", "query": f"{base}/api/query"})


def _base_url(request) -> str:
    return f"{request.scheme}://{request.host}"
