"""One thin module per ``cutout`` command; each exposes ``command``."""
