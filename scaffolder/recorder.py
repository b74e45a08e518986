"""Where a run's log and step states go: memory (dry runs) or the task record in Neo4j (real runs).

Every message passes the task's `Masker` first: the secrets given to the task, anything an action revealed
(integration tokens, the Basic header made from them), strings that changed when secrets were rendered in,
and every `TRELLIS_SECRET_*` value the process has read. Log lines are written in batches (a 500-file
skeleton logs a line per file; one write per line would dominate the run).
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Iterable

from graph import scaffolder as store
from plugins.api import redact

if TYPE_CHECKING:
    from graph.driver import Graph

MIN_SECRET = 3
MAX_MESSAGE = 8000
MASK = "***"


class Masker:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        for value in secrets:
            self.add(value)

    def add(self, value: Any) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET:
            with self._lock:
                self._values.add(value)

    def text(self, text: Any) -> str:
        if text is None:
            return ""
        out = str(text)
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            out = out.replace(value, MASK)
        return redact(out) or ""

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value


class Recorder:
    """Collects events and step states; subclasses decide where they go."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self.steps: list[dict] = []
        self._lock = threading.Lock()

    def set_steps(self, steps: list[dict]) -> None:
        self.steps = steps
        self.steps_changed()

    def step(self, step_id: str, status: str) -> None:
        for step in self.steps:
            if step["id"] == step_id:
                step["status"] = status
                now = int(time.time() * 1000)
                if status == "processing":
                    step["started_at"] = now
                elif status in ("completed", "failed", "skipped", "cancelled"):
                    step["finished_at"] = now
        self.steps_changed()

    def emit(self, message: str, *, type: str = "log", step: str | None = None, level: str = "info",  # noqa: A002
             status: str | None = None) -> None:
        text = self.masker.text(message)
        if len(text) > MAX_MESSAGE:
            text = text[:MAX_MESSAGE] + f"... ({len(text) - MAX_MESSAGE} more characters)"
        event = {"at": int(time.time() * 1000), "type": type, "step": step, "level": level, "message": text,
                 "status": status}
        with self._lock:
            self.store(event)

    # hooks
    def store(self, event: dict) -> None:
        raise NotImplementedError

    def steps_changed(self) -> None:
        pass

    def flush(self) -> None:
        pass


class MemoryRecorder(Recorder):
    def __init__(self, masker: Masker) -> None:
        super().__init__(masker)
        self.events: list[dict] = []

    def store(self, event: dict) -> None:
        event["seq"] = len(self.events) + 1
        self.events.append(event)


class GraphRecorder(Recorder):
    """Events buffered and appended to the task at most every PERIOD seconds (and at every step change)."""

    PERIOD = 0.25

    def __init__(self, masker: Masker, graph: "Graph", task_id: str) -> None:
        super().__init__(masker)
        self.graph, self.task_id = graph, task_id
        self._buffer: list[dict] = []
        self._last = 0.0

    def store(self, event: dict) -> None:
        self._buffer.append(event)
        if time.monotonic() - self._last >= self.PERIOD:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            store.append_events(self.graph, self.task_id, batch)
        self._last = time.monotonic()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def steps_changed(self) -> None:
        self.flush()
        store.update_task(self.graph, self.task_id, steps=self.steps)
