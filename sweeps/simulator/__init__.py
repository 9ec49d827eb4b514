"""A faithful fake ComfyUI server (0.8.0 or 0.33.0), for tests, ``comfyfleet sim`` and ``demo``.

It speaks the real HTTP and websocket protocol (PROTOCOL.md, checked against
recorded traces): validation errors, queue and history shapes, message order,
caching, previews, interrupts. Execution is simulated: nodes cost configurable
time and produce generated pictures.

Example::

    from sweeps.simulator import SimConfig, Simulator

    async with Simulator(SimConfig(speed=0.0)) as sim:
        print(sim.url)              # http://127.0.0.1:<port>
        sim.faults.prompt_500 = 2
"""

from sweeps.simulator.catalog import Catalog, load_object_info
from sweeps.simulator.config import GIB, NodeCosts, SimConfig
from sweeps.simulator.faults import Faults
from sweeps.simulator.server import Simulator, serve
from sweeps.simulator.versions import NEWEST, VERSIONS, ComfyVersion

__all__ = [
    "NEWEST",
    "VERSIONS",
    "Catalog",
    "ComfyVersion",
    "Faults",
    "GIB",
    "NodeCosts",
    "SimConfig",
    "Simulator",
    "load_object_info",
    "serve",
]
