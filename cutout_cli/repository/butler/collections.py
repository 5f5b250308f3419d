"""Which collections a query searches: the ones given, or the repository's one obvious choice.

As in the Butler, collections are searched in the order given, a CHAINED
collection standing for its children in order (depth-first), each
collection searched once.  Without ``--collections`` (``collections=``,
``$CUTOUT_COLLECTIONS``) a repository whose datasets of the type asked for
are reachable from one top-level collection (one that is no chain's child)
uses it; otherwise the error lists the choices.
"""

from __future__ import annotations

import os

from ...errors import InputError, NotFoundError

__all__ = ["parse_collections", "choose_collections", "flatten_chains", "ENV_COLLECTIONS"]

ENV_COLLECTIONS = "CUTOUT_COLLECTIONS"
_SHOWN = 8  # collections named in an error at most


def parse_collections(value) -> list[str] | None:
    """``"A,B"`` or a sequence of names as a list (default ``$CUTOUT_COLLECTIONS``); None when neither."""
    if value is None:
        value = os.environ.get(ENV_COLLECTIONS) or None
    if value is None:
        return None
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    return names or None


def flatten_chains(collections: list[str], chains: dict[str, list[str]]) -> list[str]:
    """The search path: CHAINED collections replaced by their children, depth-first, without repeats."""
    path: list[str] = []
    seen: set[str] = set()

    def visit(name: str, depth: int) -> None:
        if name in seen or depth > 100:
            return
        seen.add(name)
        if name in chains:
            for child in chains[name]:
                visit(child, depth + 1)
        else:
            path.append(name)

    for name in collections:
        visit(name, 0)
    return path


def choose_collections(given: list[str] | None, known: set[str], chains: dict[str, list[str]],
                       holders: dict[str, set[str]], *, source: str) -> list[str]:
    """The collections to search.

    ``given`` are checked against ``known``; without them, the top-level
    collections from which the collections in ``holders`` (``{dataset type:
    collections holding some}``) are reachable must be exactly one.
    """
    if given:
        unknown = [name for name in given if name not in known]
        if unknown:
            raise InputError(f"{source} has no collection {unknown[0]!r}", f"its collections: {_listed(known)}")
        return list(given)
    holding = set().union(*holders.values()) if holders else set()
    if not holding:
        what = ", ".join(holders) or "coadd datasets"
        raise NotFoundError(f"no collection of {source} holds {what}",
                            f"its collections: {_listed(known)}" if known else "the repository is empty")
    children = {child for members in chains.values() for child in members}
    tops = sorted(c for c in known - children if set(flatten_chains([c], chains)) & holding)
    if len(tops) == 1:
        return tops
    raise InputError(f"{source} has {len(tops)} collections holding {', '.join(holders)}: {_listed(tops)}",
                     "choose with {} (or $" + ENV_COLLECTIONS + ")", options=[("collections", tops[0])])


def _listed(names) -> str:
    names = sorted(names)
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")
