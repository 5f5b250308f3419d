"""Output writers: PNG renderings and contact-sheet grids of cutouts."""
