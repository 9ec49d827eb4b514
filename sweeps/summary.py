"""A finished (or stopped) sweep at a glance, computed from its report with polars.

What ``comfyfleet report OUT`` prints: how many runs ended how, each server's
share, how each swept value did (runs, failures, mean execution time), which
nodes cost the most, and the first failures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .report import load_report, param_columns, report_metadata

__all__ = ["Summary", "ValueStats", "summarize"]


@dataclass(frozen=True)
class ValueStats:
    """How the runs with one value of one swept address did."""

    value: Any
    runs: int
    failed: int
    mean_exec_s: float | None


@dataclass(frozen=True)
class Summary:
    name: str | None
    runs: int
    by_status: dict[str, int]
    servers: list[tuple[str, str | None, int, int, float | None]]
    """(server URL, server name, runs, failed, mean exec_s)."""
    by_address: dict[str, list[ValueStats]]
    slowest_nodes: list[tuple[str, float, int]]
    """(class_type, mean seconds when executed, times executed), slowest first."""
    failures: list[tuple[int, str, str, str | None]]
    """(run_index, error_type, first line of the message, node)."""

    def to_json(self) -> dict[str, Any]:
        """Every figure under a name, for ``comfyfleet report --json`` and ``jq``."""
        return {
            "name": self.name,
            "runs": self.runs,
            "by_status": self.by_status,
            "servers": [
                {"server": name, "url": url, "runs": runs, "failed": failed, "mean_exec_s": mean}
                for url, name, runs, failed, mean in self.servers
            ],
            "by_address": {
                address: [asdict(stats) for stats in values]
                for address, values in self.by_address.items()
            },
            "slowest_nodes": [
                {"class_type": class_type, "mean_s": mean, "executed": count}
                for class_type, mean, count in self.slowest_nodes
            ],
            "failures": [
                {"run_index": index, "error_type": kind, "message": message, "node": node}
                for index, kind, message, node in self.failures
            ],
        }


def executed_nodes(timings: pl.DataFrame) -> pl.DataFrame:
    """Unnested ``node_timings`` less the nodes answered from the cache (marked
    ``cached`` since reports list them; older reports list executed nodes only)."""
    timings = timings.drop_nulls(["node_id", "seconds"])
    if "cached" in timings.columns:
        timings = timings.filter(~pl.col("cached").fill_null(False))
    return timings


def _failed() -> pl.Expr:
    return (pl.col("status") != "success").sum().alias("failed")


def summarize(path: str | Path, *, max_failures: int = 10) -> Summary:
    """Summarize the report in ``path`` (an output directory or its Parquet file)."""
    df = load_report(path)
    meta = report_metadata(path)
    params = param_columns(df)
    swept = [c for c in params if df[c].n_unique() > 1]
    by_status = dict(df.group_by("status").len().sort("status").iter_rows())
    # Reports from before server names were recorded have URLs only.
    server_name = pl.col("server_name").first() if "server_name" in df.columns else pl.lit(None)
    servers = [
        (str(row[0]), row[1], int(row[2]), int(row[3]), row[4])
        for row in df.group_by("server")
        .agg(server_name.alias("name"), pl.len(), _failed(), pl.col("exec_s").mean())
        .sort("server", nulls_last=True)
        .iter_rows()
    ]
    by_address = {
        address: [
            ValueStats(row[0], int(row[1]), int(row[2]), row[3])
            for row in df.group_by(address)
            .agg(pl.len(), _failed(), pl.col("exec_s").mean())
            .sort(address, nulls_last=True)
            .iter_rows()
        ]
        for address in swept
    }
    timings = executed_nodes(df.select(pl.col("node_timings").explode()).unnest("node_timings"))
    slowest = [
        (str(row[0]), float(row[1]), int(row[2]))
        for row in timings.group_by("class_type")
        .agg(pl.col("seconds").mean(), pl.len())
        .sort("seconds", descending=True)
        .head(8)
        .iter_rows()
    ]
    failures = [
        (int(row[0]), str(row[1] or "?"), (row[2] or "").strip().split("\n")[0], row[3])
        for row in df.filter(pl.col("status") != "success")
        .sort("run_index")
        .select("run_index", "error_type", "error_message", "error_node")
        .head(max_failures)
        .iter_rows()
    ]
    name = meta.get("sweep")
    return Summary(
        name=name if isinstance(name, str) else None,
        runs=df.height,
        by_status=by_status,
        servers=servers,
        by_address=by_address,
        slowest_nodes=slowest,
        failures=failures,
    )
