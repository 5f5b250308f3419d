"""Optional bearer-token authentication: ``Authorization: Bearer <token>``, tokens compared in constant time.

Tokens come from a file (one per line; blank lines and ``#`` comments skipped)
and/or the environment variable ``CUTOUT_SERVE_TOKENS`` (separated by commas or
whitespace).  Without any, the service is open (it listens on 127.0.0.1 by default).
"""

from __future__ import annotations

import hmac
import os
import re

from ..errors import InputError

__all__ = ["Tokens", "TOKENS_ENV", "MIN_TOKEN_LENGTH"]

TOKENS_ENV = "CUTOUT_SERVE_TOKENS"
MIN_TOKEN_LENGTH = 16


class Tokens:
    """The accepted tokens (empty: no authentication)."""

    def __init__(self, tokens=()):
        self._tokens = [t.encode() for t in tokens]

    @classmethod
    def load(cls, path=None, environ=os.environ) -> Tokens:
        """Tokens of the file ``path`` and of ``$CUTOUT_SERVE_TOKENS``; an InputError for a file that cannot
        be read, or for a token shorter than 16 characters (too easy to guess)."""
        tokens = re.split(r"[\s,]+", environ.get(TOKENS_ENV, "").strip()) if environ.get(TOKENS_ENV, "").strip() else []
        if path is not None:
            try:
                with open(path, encoding="utf-8") as lines:
                    tokens += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
            except (OSError, UnicodeDecodeError) as err:
                raise InputError(f"cannot read the token file {path}: {getattr(err, 'strerror', None) or err}",
                                 "give a readable text file, one token per line") from None
            if not tokens:
                raise InputError(f"the token file {path} holds no token", "write one token per line")
        short = [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]
        if short:
            raise InputError(f"{len(short)} token(s) shorter than {MIN_TOKEN_LENGTH} characters",
                             "use long random tokens, e.g. python -c 'import secrets; print(secrets.token_urlsafe())'")
        return cls(tokens)

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def accepts(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries one of the tokens (every token is compared,
        each in constant time, so the time says nothing of which one nearly matched)."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        given_bytes = given.strip().encode()
        matched = False
        for token in self._tokens:
            matched |= hmac.compare_digest(token, given_bytes)
        return matched
