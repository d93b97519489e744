"""The bench's report: its figures, a Markdown row each, the ratios the issue sets, a plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Figure:
    target: str
    scenario: str
    database: str
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    errors: int
    refused: dict[str, int]  # answers other than 200: {"HTTP status/contract code": count}


def row(f: Figure) -> str:
    refused = ", ".join(f"{n}× {what}" for what, n in sorted(f.refused.items()))
    errors = "; ".join(x for x in (f"{f.errors} socket errors" if f.errors else "", refused) if x)
    return (
        f"| {f.target} | {f.scenario} | {f.database} | {f.connections} | {f.requests_per_s:,} | "
        f"{f.p50_ms:.2f} | {f.p99_ms:.2f} | {f.cpu_us_per_request} | {errors} |"
    )


HEADER = (
    "| target | scenario | database | connections | requests/s | p50 ms | p99 ms "
    "| server CPU µs/request | not 200 (HTTP/code) |\n|---|---|---|---|---|---|---|---|---|"
)


def ratios(figures: list[Figure], database: str) -> list[str]:
    """The issue's targets, as ratios of figures measured in this run."""

    def rate(target: str, scenario: str, connections: int) -> float | None:
        for f in figures:
            if (f.target, f.scenario, f.connections) == (target, scenario, connections) and (
                f.database in (database, "-")
            ):
                return f.requests_per_s
        return None

    lines = []
    for connections in sorted({f.connections for f in figures}):
        raw = rate("raw ASGI", "fixed body", connections)
        naive = rate("naive FastAPI+ORM", "write", connections)
        for scenario, against, target_ratio in (
            ("write", naive, 3.0),
            ("write", raw, 0.4),
            ("read", raw, 0.6),
            ("route", raw, 0.6),
        ):
            mine = rate("renvoi", scenario, connections)
            if mine is None or not against:
                continue
            name = "naive" if against is naive else "raw ASGI"
            lines.append(
                f"| {database} | {connections} | {scenario} / {name} | {mine / against:.2f} "
                f"| ≥ {target_ratio} |"
            )
    return lines


def plot(figures: list[Figure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), sharex=True)
    series: dict[str, list[Figure]] = {}
    for f in figures:
        label = f"{f.target} {f.scenario}" + (f" ({f.database})" if f.database != "-" else "")
        series.setdefault(label, []).append(f)
    for label, points in sorted(series.items()):
        points.sort(key=lambda f: f.connections)
        xs = [f.connections for f in points]
        top.plot(xs, [f.requests_per_s for f in points], marker="o", label=label)
        bottom.plot(xs, [f.p99_ms for f in points], marker="o", label=label)
    top.set_ylabel("requests/s")
    top.set_yscale("log")
    bottom.set_ylabel("p99 latency, ms")
    bottom.set_yscale("log")
    bottom.set_xlabel("wrk connections")
    bottom.set_xscale("log", base=2)
    ticks = sorted({f.connections for f in figures})
    bottom.set_xticks(ticks, [str(t) for t in ticks])
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    top.set_title("renvoi vs references, loopback, wrk (2 threads)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
