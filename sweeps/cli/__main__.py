"""``python -m sweeps.cli``: the ``comfyfleet`` command."""

from .commands import main

main(prog_name="comfyfleet")
