"""``cutout serve``: an IVOA SODA cutout service over the repository (see :mod:`cutout_cli.serve`)."""

from __future__ import annotations

import click

from ...errors import InputError
from ..output import diagnostic
from ..state import pass_state

SERVE_HINT = "install the serve extra: pip install 'cutout-cli[serve]'"


@click.command("serve", context_settings={"max_content_width": 100})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--max-pixels", type=click.IntRange(1), default=4096 * 4096, show_default=True,
              help="Largest cutout, pixels per plane.")
@click.option("--max-bytes", type=click.IntRange(1), default=256 * 2**20, show_default=True,
              help="Largest response, bytes (12 bytes per pixel for the three planes).")
@click.option("--concurrency", type=click.IntRange(1), help="Cutouts running at once [default: the CPU count].")
@click.option("--queue", type=click.IntRange(0), default=64, show_default=True,
              help="Requests waiting beyond those; more are answered 503 with Retry-After.")
@click.option("--timeout", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds from arrival to answer (waiting included); later: 503.")
@click.option("--body-timeout", type=click.FloatRange(0.1), default=10.0, show_default=True,
              help="Seconds a client has to send its request body; later: 408.")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="Bearer tokens, one per line: requests without one get 401 (VOSI documents excepted). "
                   "[env: CUTOUT_SERVE_TOKENS]")
@click.option("--no-access-log", is_flag=True, help="No line per request on stderr (nor with -q).")
@pass_state
def command(state, *, host, port, max_pixels, max_bytes, concurrency, queue, timeout, body_timeout, token_file,
            no_access_log):
    """Serve the repository as an IVOA SODA 1.0 cutout service, for pyvo, astroquery and curl.

    /sync (GET, POST) takes ID (a Butler dataset id, or DATASET_TYPE/TRACT/PATCH/BAND
    such as deep_coadd/5063/33/r) and one of POS, CIRCLE, POLYGON (degrees), and
    answers the FITS cutout subset writes: the dataset's pixels holding the region,
    never resampled (204 when they do not overlap).  /api/cutout takes ra, dec,
    size, band (subset --ra --dec --size --band); /api/query lists the datasets at
    pos with their IDs; /capabilities and /availability are the VOSI documents.
    Errors are SODA error documents (UsageError: ...) with their HTTP status.
    SIGTERM or Ctrl-C stops after the requests in flight (exit 0).

    \b
    Examples:
      cutout serve --port 8000
      curl -o c.fits 'http://127.0.0.1:8000/sync?ID=deep_coadd/5063/33/r&CIRCLE=53.318792+-27.844306+0.005'
      curl -o d.fits 'http://127.0.0.1:8000/api/cutout?ra=53.318792&dec=-27.844306&size=60arcsec&band=r'
    """
    import asyncio
    import os

    try:
        from ...serve.app import make_app
        from ...serve.server import serve
    except ImportError as err:
        raise InputError(f"cutout serve needs aiohttp ({err})", SERVE_HINT) from None
    from ...serve.auth import Tokens
    from ...serve.limits import Limits

    limits = Limits(max_pixels=max_pixels, max_bytes=max_bytes, concurrency=concurrency or max(1, os.cpu_count() or 1),
                    queue=queue, timeout=timeout, body_timeout=body_timeout)
    tokens = Tokens.load(token_file)
    app = make_app(state.repository(), limits, tokens)
    if tokens:
        diagnostic(f"{len(tokens)} bearer token(s): requests without one get 401")
    asyncio.run(serve(app, host, port, access_log=not (no_access_log or state.quiet), announce=diagnostic))
