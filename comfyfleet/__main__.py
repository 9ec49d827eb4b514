"""``python -m comfyfleet``: the ``comfyfleet`` command, for environments without its script."""

from sweeps.cli import main

main(prog_name="comfyfleet")
