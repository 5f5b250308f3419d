"""Output writers: afw-layout FITS, PNG renderings, colour pictures, contact sheets, and the atomic-file
and per-band naming rules they share."""
