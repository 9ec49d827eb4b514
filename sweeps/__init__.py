"""comfyfleet's engine: a ComfyUI client, fleet state, sweeps and a simulator. No UI."""
