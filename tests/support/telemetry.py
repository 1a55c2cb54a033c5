"""OpenTelemetry's SDK for the tests: an in-memory span exporter and an in-memory metric reader,
installed once per test process as the global providers (OpenTelemetry allows one of each).

Counters are cumulative over the process, so a test reads them as the change since it began
(:meth:`Recorded.added`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

Key = tuple[str, tuple[tuple[str, Any], ...]]  # (metric name, sorted attributes)

_installed: tuple[InMemorySpanExporter, InMemoryMetricReader] | None = None


def _install() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    global _installed
    if _installed is None:
        exporter = InMemorySpanExporter()
        tracing = TracerProvider()
        tracing.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tracing)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _installed = exporter, reader
    return _installed


class Recorded:
    """What sessionward recorded since this object was made."""

    def __init__(self) -> None:
        self._exporter, self._reader = _install()
        self._exporter.clear()
        self._before = self.totals()

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        spans = self._exporter.get_finished_spans()
        return [s for s in spans if name is None or s.name == name]

    def _points(self) -> list[tuple[str, Any]]:
        data = self._reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                if scope.scope.name != "sessionward":
                    continue
                for metric in scope.metrics:
                    found += [(metric.name, point) for point in metric.data.data_points]
        return found

    def totals(self) -> dict[Key, float]:
        """Each counter's value and each histogram's count, by name and attributes."""
        totals: dict[Key, float] = {}
        for name, point in self._points():
            value = point.count if hasattr(point, "count") else point.value
            totals[(name, tuple(sorted(point.attributes.items())))] = value
        return totals

    def added(self, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
        """How much each series of ``name`` grew since this object was made (non-zero only)."""
        now = self.totals()
        grown = {
            attributes: value - self._before.get((metric, attributes), 0)
            for (metric, attributes), value in now.items()
            if metric == name
        }
        return {attributes: value for attributes, value in grown.items() if value}

    def gauge(self, name: str) -> float:
        (value,) = [v for (metric, _), v in self.totals().items() if metric == name]
        return value

    def text(self) -> str:
        """Every span (name, attributes, events, status) and every metric point, as text: what a
        secrets check reads."""
        spans = [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [(e.name, dict(e.attributes or {})) for e in s.events],
                "status": s.status.description,
                "resource": dict(s.resource.attributes),
            }
            for s in self.spans()
        ]
        points = [
            {"name": name, "attributes": dict(point.attributes), "point": point.to_json()}
            for name, point in self._points()
        ]
        return json.dumps({"spans": spans, "metrics": points}, default=str)


__all__ = ["Recorded"]
