"""``python -m cutout_cli`` runs the ``cutout`` command."""

from .cli import run

run()
