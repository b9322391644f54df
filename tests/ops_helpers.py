"""Helpers for the operations tests: reading Prometheus text, capturing log lines.

A plain module (not a plugin): the metrics are read through prometheus_client's own
parser, and logs through a real handler from :mod:`bot.ops.logs` on the root logger.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.ops.logs import make_handler


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def label_values(text: str, name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and label in sample.labels
    }


class LogCapture:
    """What a real docbot handler wrote, as text and as parsed JSON lines."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]


@contextmanager
def capture_logs(
    fmt: str = "json", *, level: int = logging.INFO, debug_loggers: tuple[str, ...] = ()
) -> Iterator[LogCapture]:
    """A docbot handler on the root logger for the duration; ``bot`` at ``level`` and
    ``debug_loggers`` (third-party libraries) at DEBUG."""
    stream = io.StringIO()
    handler = make_handler(fmt, stream)
    root = logging.getLogger()
    names = ("bot", *debug_loggers)
    saved = {name: logging.getLogger(name).level for name in names}
    root.addHandler(handler)
    logging.getLogger("bot").setLevel(level)
    for name in debug_loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield LogCapture(stream)
    finally:
        root.removeHandler(handler)
        for name, value in saved.items():
            logging.getLogger(name).setLevel(value)
