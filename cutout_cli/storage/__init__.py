"""Bytes wherever they are: one protocol for a local folder, an object store and a web server (layer 2).

Modules:

* :mod:`~cutout_cli.storage.base`: the :class:`~cutout_cli.storage.base.Storage` protocol, URL tests;
* :mod:`~cutout_cli.storage.local`: a local folder;
* :mod:`~cutout_cli.storage.remote`: S3 and HTTP through fsspec, retries, downloads;
* :mod:`~cutout_cli.storage.failures`: remote failures classified into one-line errors;
* :mod:`~cutout_cli.storage.ranged`: a seekable file over a remote object that fetches only what is read;
* :mod:`~cutout_cli.storage.opening`: :func:`~cutout_cli.storage.opening.open_storage`, the storage of a root.
"""
