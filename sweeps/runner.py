"""Running a sweep spec end to end: load, plan, check against servers, dispatch, report.

This is the notebook API as much as the CLI's:

>>> result = await run_sweep("sweeps/shootout.yaml")          # doctest: +SKIP
>>> df = load_report(result.out_dir)                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import polars as pl

from .client import ComfyClient
from .config import ServerConfig
from .connection import ServerConnection
from .contact_sheet import write_contact_sheet
from .costs import CostModel
from .errors import FleetError, ServerUnreachable, SpecError
from .grid import Grid, Run
from .identity import RunLike
from .open_files import check_open_files
from .planning import Estimate, estimate
from .preflight import Preflight, check_grid
from .progress import SweepProgress
from .redaction import header_secrets, redact
from .report import ReportWriter, journal_owner, report_files
from .scheduler import Sweep
from .schema import NodeSchema
from .servers_file import discover_servers
from .spec import PlotSpec, SweepSpec, load_spec
from .xyplot import plan_xy_plot, render_xy_plot

__all__ = [
    "Plan",
    "SweepResult",
    "check_output",
    "check_plan",
    "draw_plots",
    "plan_estimate",
    "plan_sweep",
    "run_planned",
    "run_sweep",
    "sweep_servers",
    "tool_version",
]

log = logging.getLogger(__name__)


def tool_version() -> str:
    try:
        return version("comfyfleet")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Plan:
    """What a sweep would do: its runs, the servers, and what they said of it."""

    spec: SweepSpec
    grid: Grid
    servers: tuple[ServerConfig, ...]
    preflight: Preflight | None
    unreachable: dict[str, str]
    versions: dict[str, str | None]

    @property
    def ok(self) -> bool:
        return self.preflight is not None and not self.preflight.errors()

    def warnings(self) -> list[str]:
        """What will run, but not as a user may expect: the servers' warnings, and
        repeats that ComfyUI would answer from its cache."""
        found = list(self.preflight.warnings()) if self.preflight else []
        repeat, runs = self.spec.repeat, len(self.grid)
        usable = len(self.servers) - len(self.unreachable)
        if repeat > 1 and runs // repeat <= max(1, usable):
            # ComfyUI's cache keeps the previous prompt's outputs (PROTOCOL 3.2): the
            # same prompt twice in a row on one server runs nothing the second time.
            line = self.spec.line_for("repeat")
            where = f"{self.spec.path}:{line}: " if line else ""
            found.append(
                f"{where}repeat: {repeat} of a pass of {runs // repeat} run(s) on "
                f"{usable} server(s): a server given the same prompt twice in a row answers "
                "it from ComfyUI's cache (every node cached, nothing measured); sweep a seed "
                "instead, or start ComfyUI with --cache-none to time repeats"
            )
        return found


@dataclass(frozen=True)
class SweepResult:
    out_dir: Path
    progress: SweepProgress
    plots: tuple[Path, ...] = ()
    """The spec's ``plot:`` images, as written into ``out_dir``."""
    plot_warnings: tuple[str, ...] = ()
    """Why a plot was not drawn; never a failed sweep, whose results are in the report."""
    sheet: Path | None = None
    """The contact sheet (``OUT/index.html``), for sweeps of up to :data:`SHEET_LIMIT` runs."""

    @property
    def ok(self) -> bool:
        return self.progress.failed == 0


def sweep_servers(spec: SweepSpec, cli: Sequence[str | ServerConfig] = ()) -> list[ServerConfig]:
    """``--server`` flags, else the spec's servers, else the config file and environment."""
    if cli and all(isinstance(s, ServerConfig) for s in cli):
        return [s for s in cli if isinstance(s, ServerConfig)]
    if cli:
        # A ServerConfig given among URLs keeps its headers, timeouts and limits.
        unique: dict[str, ServerConfig] = {}
        for given in cli:
            for config in discover_servers([given]) if isinstance(given, str) else [given]:
                unique.setdefault(config.url, config)
        return list(unique.values())
    if spec.servers:
        return list(spec.servers)
    return discover_servers()


async def _server_facts(server: ServerConfig) -> tuple[dict[str, NodeSchema], str | None] | str:
    """(schemas, ComfyUI version) for one server, or the error that kept them from us."""
    async with ComfyClient(server) as client:
        try:
            schemas = await client.object_info()
            stats = await client.system_stats()
        except FleetError as exc:
            return str(exc)
    return schemas, stats.system.comfyui_version


async def plan_sweep(
    spec: SweepSpec | str | Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    check_servers: bool = True,
) -> Plan:
    """Expand and check a sweep without queueing anything."""
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    grid = Grid(spec)
    configs = sweep_servers(spec, servers)
    preflight = None
    unreachable: dict[str, str] = {}
    versions: dict[str, str | None] = {}
    if check_servers:
        check_open_files(len(configs))  # before a thousand sockets fail with EMFILE
        facts = await asyncio.gather(*(_server_facts(s) for s in configs))
        schemas_by_server: dict[str, dict[str, NodeSchema]] = {}
        for server, fact in zip(configs, facts, strict=True):
            if isinstance(fact, str):
                unreachable[server.url] = fact
                continue
            schemas, comfy_version = fact
            schemas_by_server[server.url] = schemas
            versions[server.url] = comfy_version
        if schemas_by_server:
            preflight = check_grid(grid, schemas_by_server)
    return Plan(spec, grid, tuple(configs), preflight, unreachable, versions)


async def run_sweep(
    spec: SweepSpec | str | Path,
    *,
    servers: Sequence[str | ServerConfig] = (),
    out_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    depth: int = 2,
    on_start: Callable[[Sweep], None] | None = None,
) -> SweepResult:
    """Run a sweep to the end; resume into ``out_dir`` if it holds an earlier run.

    Raises :class:`SpecError` before anything is queued when the spec is wrong,
    no server answers, or some runs could not run on any server.
    """
    plan = await plan_sweep(spec, servers=servers)
    return await run_planned(
        plan, out_dir=out_dir, on_progress=on_progress, depth=depth, on_start=on_start
    )


def check_plan(plan: Plan, *, out_dir: Path | None = None) -> None:
    """Raise if ``plan`` cannot run: :class:`SpecError` for what the spec asks that no
    server can serve or an output directory that cannot be written (``out_dir``, else
    the spec's ``output``), :class:`ServerUnreachable` when no server answered."""
    check_output(plan.spec, out_dir)
    if plan.preflight is None:
        details = "; ".join(f"{url}: {why}" for url, why in plan.unreachable.items())
        raise ServerUnreachable(
            f"no server is reachable ({details})", server=next(iter(plan.unreachable), "")
        )
    plan.preflight.raise_for_errors(str(plan.spec.path))


def check_output(spec: SweepSpec, out_dir: Path | None = None) -> None:
    """Refuse an output directory that is a file or cannot be created or written,
    before any prompt is queued (a sweep that cannot save its results wastes them)."""
    out = out_dir if out_dir is not None else spec.output
    path, line = (
        ("--out", None) if out_dir is not None else (str(spec.path), spec.line_for("output"))
    )
    fix = "give another directory" + (" with --out" if out_dir is not None else " as output:")
    if out.exists() and not out.is_dir():
        raise SpecError(f"output {out} is a file, not a directory; {fix}", path=path, line=line)
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise SpecError(
            f"output {out} cannot be created: {existing} is a file; {fix}", path=path, line=line
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(
            f"output {out} cannot be written: no write permission on {existing}; {fix}",
            path=path,
            line=line,
        )
    owner = journal_owner(out) if out.is_dir() else None
    if owner is not None and owner != spec.name:
        raise SpecError(
            f"output {out} holds the runs of sweep {owner!r}, not {spec.name!r}; {fix}, "
            "or remove that directory",
            path=path,
            line=line,
        )


async def run_planned(
    plan: Plan,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    depth: int = 2,
    on_start: Callable[[Sweep], None] | None = None,
    connection_for: Callable[[ServerConfig], ServerConnection] | None = None,
) -> SweepResult:
    """Run a checked plan. ``connection_for`` lends connections someone else
    listens on (the dashboard's), so the sweep's prompts show on its cards.
    """
    out_dir = Path(out_dir) if out_dir is not None else None
    check_plan(plan, out_dir=out_dir)
    assert plan.preflight is not None
    spec = plan.spec
    usable = [s for s in plan.servers if s.url not in plan.unreachable]
    check_open_files(len(usable), depth=depth)
    servers: list[ServerConfig | ServerConnection] = [
        connection_for(s) if connection_for else s for s in usable
    ]
    out = out_dir or spec.output
    grid = plan.grid
    addresses = list(grid.values_by_address())
    log.info(
        "sweep %s: %d runs on %s into %s",
        spec.name,
        len(grid),
        ", ".join(s.name for s in usable),
        out,
    )
    async with ReportWriter(out, addresses=addresses, sweep=spec.name) as report:
        report.metadata.update(_metadata(spec, plan))
        sweep = Sweep(
            map(_with_workflow_values(grid), grid),
            total=len(grid),
            name=spec.name,
            prompt_for=grid.prompt_for,
            servers=servers,
            report=report,
            eligible=plan.preflight.eligible,
            affinity=model_affinity(grid),
            depth=depth,
            on_progress=on_progress,
            extra_data={"extra_pnginfo": {"comfyfleet": {"sweep": spec.name}}},
            costs=await asyncio.to_thread(CostModel.load),
        )
        if on_start is not None:
            on_start(sweep)
        progress = await sweep.run()
    # After the writer closes, so the plots see every run, stopped sweeps included.
    # In a thread: drawing is seconds of CPU for a big grid, and the dashboard keeps running.
    plots, warnings = await asyncio.to_thread(draw_plots, spec.plots, out)
    sheet = None
    if len(grid) <= SHEET_LIMIT:
        sheet, problem = await asyncio.to_thread(_write_sheet, out)
        warnings += (problem,) if problem else ()
    return SweepResult(out, progress, plots, warnings, sheet)


SHEET_LIMIT = 5000
"""Sweeps up to this many runs get their contact sheet written when they end; a
bigger page is slow to open (``comfyfleet sheet`` still writes one on demand)."""


def _write_sheet(out: Path) -> tuple[Path | None, str | None]:
    """The contact sheet, or why there is none: like a plot, never a failed sweep."""
    if not report_files(out):  # no run ended (no server answered, say): nothing to show
        return None, None
    try:
        return write_contact_sheet(out), None
    except (FleetError, OSError, pl.exceptions.PolarsError) as exc:
        return None, f"contact sheet not written: {exc}"


ESTIMATE_SAMPLE = 5000
"""Runs placed to estimate a sweep's time: enough to see its groups, quick to plan."""


def plan_estimate(plan: Plan, costs: CostModel | None = None) -> Estimate:
    """How long ``plan`` should take on its reachable servers, from ``costs`` (the
    model kept in the data directory by default). Grids bigger than
    :data:`ESTIMATE_SAMPLE` runs are estimated from their first ones, scaled up."""
    if costs is None:
        costs = CostModel.load()
    usable = [s.url for s in plan.servers if s.url not in plan.unreachable]
    eligible = plan.preflight.eligible if plan.preflight is not None else (lambda r, u: True)
    runs = map(_with_workflow_values(plan.grid), plan.grid)
    result = estimate(
        (r for r, _ in zip(runs, range(ESTIMATE_SAMPLE), strict=False)),
        usable,
        eligible=eligible,
        prompt_for=plan.grid.prompt_for,
        model=costs,
    )
    scale = len(plan.grid) / ESTIMATE_SAMPLE
    if scale <= 1:
        return result
    return replace(result, per_server={u: s * scale for u, s in result.per_server.items()})


def draw_plots(
    plots: Sequence[PlotSpec], out: Path, *, cell_px: int = 256
) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """Draw each plot from the report in ``out``: (files written, why others were not).

    A plot that cannot be drawn is a warning, never an error: the runs are already
    safe in the report, and ``comfyfleet grid`` can draw it again later.
    """
    written: list[Path] = []
    warnings: list[str] = []
    for plot in plots:
        try:
            xy = plan_xy_plot(out, x=plot.x, y=plot.y, where=plot.where)
            if not any(cell.image is not None for cell in xy.cells):
                warnings.append(f"plot {plot.file} not drawn: no run has an image yet")
                continue
            written.append(render_xy_plot(xy, out / plot.file, cell_px=cell_px))
        except (FleetError, OSError, ValueError, pl.exceptions.PolarsError) as exc:
            # OSError: a full disk or an unreadable image; ValueError: a label
            # matplotlib cannot typeset. Either way the sweep's own outcome stands.
            warnings.append(f"plot {plot.file} not drawn: {exc}")
    return tuple(written), tuple(warnings)


def _with_workflow_values(grid: Grid) -> Callable[[Run], Run]:
    """Fill each run's params with the workflow's own value for any swept address
    the run does not set (an ``include`` that leaves the seed alone, say), so every
    report column holds the value the prompt really had. Run ids are unchanged.
    """
    defaults: dict[str, dict[str, Any]] = {}
    for name, workflow in grid.workflows.items():
        defaults[name] = {}
        for address in grid.values_by_address(name):
            ref = workflow.resolve(address)
            defaults[name][address] = workflow.nodes[ref.node_id].inputs.get(ref.input_name)

    def fill(run: Run) -> Run:
        missing = {
            a: v for a, v in defaults.get(run.workflow_name, {}).items() if a not in run.params
        }
        return replace(run, params={**missing, **run.params}) if missing else run

    return fill


def model_affinity(grid: Grid) -> Callable[[RunLike], Hashable] | None:
    """Runs that load the same models share a key; None when no loader input is swept.

    A loader is a node whose class is a ``...Loader...`` (checkpoints, LoRAs, VAEs,
    UNets, CLIP): changing its inputs costs a model load, seconds on a GPU.
    """
    loaders: dict[str, list[str]] = {}
    for name, workflow in grid.workflows.items():
        loaders[name] = [
            address
            for address in grid.values_by_address(name)
            if "Loader" in workflow.nodes[workflow.resolve(address).node_id].class_type
        ]
    if not any(loaders.values()):
        return None

    def key(run: RunLike) -> Hashable:
        names = loaders.get(run.workflow_name, [])
        return (run.workflow_name, *(repr(run.params.get(a)) for a in names))

    return key


def _metadata(spec: SweepSpec, plan: Plan) -> dict[str, str]:
    return {
        "comfyfleet.version": json.dumps(tool_version()),
        "comfyfleet.sweep": json.dumps(spec.name),
        # The spec as written, less its credentials (a user:pass@ URL, a header).
        "comfyfleet.spec": json.dumps(
            redact(spec.source, [s for c in spec.servers for s in header_secrets(c.headers)])
        ),
        "comfyfleet.workflows": json.dumps(
            {name: wf.to_prompt() for name, wf in spec.workflows.items()}
        ),
        "comfyfleet.servers": json.dumps(
            [{"url": s.url, "comfyui_version": plan.versions.get(s.url)} for s in plan.servers]
        ),
    }
