"""``cutout serve``: an IVOA SODA 1.0 cutout service over any repository, on aiohttp.

The map, request to response:

- :mod:`.app` - the aiohttp application: routes, the authentication and error
  middlewares, the handlers (thin: parse, run the cutout off the event loop, answer);
- :mod:`.soda` - the SODA ``{sync}`` parameters (``ID``, ``POS``, ``CIRCLE``,
  ``POLYGON``) and the JSON endpoint's ones, checked into requests;
- :mod:`.ids` - dataset identifiers: a Butler dataset id or ``TYPE/TRACT/PATCH/BAND``,
  looked up in the repository's registry, never joined into a path;
- :mod:`.work` - the cutouts themselves (blocking: worker processes, each with its own
  repository), within the size limits;
- :mod:`.limits` - the limits and the admission gate (a bound on concurrent cutouts,
  a bounded queue, 503 + ``Retry-After`` past it, a deadline per request);
- :mod:`.faults` - SODA/DALI error documents and their HTTP statuses;
- :mod:`.auth` - optional bearer tokens, compared in constant time;
- :mod:`.vosi` - the VOSI capabilities and availability documents;
- :mod:`.server` - listening, the access log, a clean stop on SIGTERM/SIGINT.

aiohttp is the optional ``serve`` extra (``pip install 'cutout-cli[serve]'``).
"""
