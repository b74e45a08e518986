"""Running templates in-process for tests: a template dict plus files, through the real runner and the actions
registered by the installed plugins (entry points), with a memory recorder."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from scaffolder.config import parse_config
from scaffolder.integrations import parse_integrations
from scaffolder.recorder import Masker, MemoryRecorder
from scaffolder.runner import CancelWatch, RunResult, run_task
from scaffolder.services import TemplateBase
from scaffolder.template import Template
from tests.support.files import write_files


def template(steps: list[dict], parameters: Any = None, output: dict | None = None, name: str = "t") -> dict:
    return {"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"owner": "group:default/platform", "type": "service", "parameters": parameters or [],
                     "steps": steps, **({"output": output} if output else {})}}


class FakeCatalog:
    def __init__(self) -> None:
        self.registered: list[tuple] = []

    def register(self, target, catalog_info_path=None, optional=False):
        self.registered.append((target, catalog_info_path))
        return ["component:default/registered"]

    def get_entity(self, ref, defaultKind=None, defaultNamespace=None):  # noqa: N803
        return {"kind": "Group", "metadata": {"name": ref.split("/")[-1]}} if "exists" in ref else None

    def get_entities(self, refs, defaultKind=None, defaultNamespace=None):  # noqa: N803
        return [self.get_entity(r) for r in refs]


def run(tmp_path: Path, entity: dict, *, values: dict | None = None, files: dict | None = None,
        secrets: dict | None = None, dry_run: bool = False, allowed: set[str] | None = None,
        integrations: Any = None, catalog: Any = None, config: dict | None = None, registry: Any = None,
        cancel_after: float | None = None, timeout: float = 60) -> tuple[RunResult, MemoryRecorder]:
    from plugins.registry import load_registry

    base_dir = tmp_path / "template"
    base_dir.mkdir(parents=True, exist_ok=True)
    write_files(base_dir, files or {})
    recorder = MemoryRecorder(Masker())
    settings = {"workdir": str(tmp_path / "work"), **(config or {})}
    watch = CancelWatch(None, timeout)
    if cancel_after is not None:
        import threading

        threading.Timer(cancel_after, lambda: watch.cancel("the task was cancelled")).start()
    with watch:
        result = run_task(template=Template.from_entity(entity), task_id="test-task", values=values or {},
                          secrets=secrets or {}, user={"ref": "user:default/alice", "entity": None},
                          base=TemplateBase(dir=base_dir, root=base_dir), registry=registry or load_registry(),
                          catalog=catalog or FakeCatalog(), integrations=integrations or parse_integrations({}),
                          config=parse_config(settings), recorder=recorder, cancel=watch, dry_run=dry_run,
                          allowed=allowed if allowed is not None else {"read", "run", "ingest"}, keep_files=True)
    return result, recorder


def files_of(result: RunResult) -> dict[str, str | None]:
    return {f["path"]: f["text"] for f in result.files or []}


def log_text(recorder: MemoryRecorder) -> str:
    return "\n".join(e["message"] for e in recorder.events)
