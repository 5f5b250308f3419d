"""Batch cutouts: :mod:`.options` (what is asked) -> :mod:`.plan` (targets -> coadd files) ->
:mod:`.execute` (one task per file, in workers placed by :mod:`.executors`) -> :mod:`.publish`
(manifest, single file, colour pictures, grid); :func:`.run.run_batch` runs the whole."""
