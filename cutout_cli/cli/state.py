"""What the global options of ``cutout`` say, for every command: one :class:`CliState` per invocation."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import click

from ..storage.remote import RemoteOptions

__all__ = ["CliState", "pass_state"]


@dataclass
class CliState:
    """The global options (``--repo``, ``--collections``, ``--anon``, ``--endpoint-url``, ``--cache-dir``, ``-v``,
    ``-q``) and
    what they open.

    ``verbosity`` counts ``-v`` (``-vv``, ``--verbose``...): from 1 an internal
    error prints its traceback.  The repository is opened on first use, once.
    """

    repo_root: str | None = None
    collections: str | None = None
    anon: bool = False
    endpoint_url: str | None = None
    cache_dir: str | None = None
    verbosity: int = 0
    quiet: bool = False
    _repository: object = field(default=None, repr=False, compare=False)

    def repository(self):
        """The repository named by ``--repo`` (see :func:`~cutout_cli.repository.open_repository`)."""
        if self._repository is None:
            from ..repository import open_repository  # the library, only once a command needs it

            self._export_cache_dir()
            self._repository = open_repository(self.repo_root, collections=self.collections, anon=self.anon,
                                               endpoint_url=self.endpoint_url)
        return self._repository

    def remote_options(self):
        """:class:`~cutout_cli.storage.remote.RemoteOptions` from the global options, for files given by URL."""
        self._export_cache_dir()
        return RemoteOptions.from_env(self.anon, self.endpoint_url)

    def _export_cache_dir(self) -> None:
        """``--cache-dir`` as ``$CUTOUT_CACHE_DIR``: every RemoteOptions made from the environment (the
        repository's, worker processes') then uses it."""
        if self.cache_dir:
            os.environ["CUTOUT_CACHE_DIR"] = self.cache_dir


#: Decorator giving a command the invocation's :class:`CliState` as its first argument.
pass_state = click.make_pass_decorator(CliState, ensure=True)
