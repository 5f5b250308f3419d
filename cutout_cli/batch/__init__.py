"""Batch cutouts: plan (targets -> coadd files) -> execute (one task per file) -> manifest."""
