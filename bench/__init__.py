"""Benchmark suite of ``cutout`` (run ``make bench`` or ``python -m bench``; see ``bench/README.md``).

Modules, one concern each: :mod:`bench.config` (settings), :mod:`bench.data`
(generated coadds and target lists), :mod:`bench.timing` (harness),
:mod:`bench.children` (child-process timing and memory), :mod:`bench.machine`
(machine description), :mod:`bench.reads`, :mod:`bench.process` and
:mod:`bench.batch` (the three benchmarks), :mod:`bench.report` (Markdown),
:mod:`bench.profile` (profiles of the library's hot paths, run on demand).
"""
