"""The step runner: Backstage's NunjucksWorkflowRunner semantics for one task, in one workspace.

For each step, in order: stop if the task was cancelled; skip it when `if` is false (per iteration with
`each`); find the action (registered through the plugin door) and check the initiator holds its permission;
in a dry run skip actions that cannot dry-run (their output is the example from their output schema);
render `each` (at most `max_each` iterations) and the input of every iteration, validate each against the
action's input schema, then run them, collecting `ctx.output()` (lists inside `each`); then check the whole
workspace again (no links, within limits). After the last step, `spec.output` is rendered. Secrets are in
the context only for step inputs, never for `if`, `each` or the output, and are empty in dry runs; every
string that changes when secrets are rendered in is masked wherever it could be shown.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jsonschema

from plugins.api import ActionContext, ActionError, ActionLogger, CancelledError, PluginError, TemplateAction
from scaffolder.config import ScaffolderConfig
from scaffolder.expressions import RenderError, Templater, is_truthy
from scaffolder.filters import backstage_filters
from scaffolder.integrations import Integrations, adapt
from scaffolder.recorder import Recorder
from scaffolder.services import Services, TemplateBase
from scaffolder.template import Template
from scaffolder.workspace import WorkspaceError, snapshot, verify


class TaskCancelled(Exception):
    """The task was cancelled (by a person, or it ran over its time limit)."""


@dataclass
class RunResult:
    status: str                             # completed | failed | cancelled
    output: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    error: str | None = None
    files: list[dict] | None = None         # dry runs: every file the steps produced
    inspected: Any = None                   # what `inspect(workspace)` answered before the workspace went
    seconds: float = 0.0


class CancelWatch:
    """A threading.Event set when `check()` says the task was cancelled, or when the task runs out of time;
    polled in a background thread so waits inside actions stop at once."""

    def __init__(self, check: Callable[[], bool] | None, timeout: float, period: float = 0.5) -> None:
        self.event = threading.Event()
        self.reason = ""
        self._check = check
        self._deadline = time.monotonic() + timeout
        self._period = period
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaffolder-cancel-watch", daemon=True)

    def __enter__(self) -> "CancelWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def cancel(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            if time.monotonic() > self._deadline:
                self.cancel("the task ran over its time limit")
                return
            try:
                if self._check is not None and self._check():
                    self.cancel("the task was cancelled")
                    return
            except Exception:   # the database may hiccup; the next poll tries again
                continue


def example_output(schema: Any) -> Any:
    """Backstage's generateExampleOutput: `examples[0]`, else a placeholder per type."""
    if not isinstance(schema, dict):
        return "<unknown>"
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    kind = schema.get("type")
    if kind == "object":
        return {k: example_output(v) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        items = schema.get("items")
        return [example_output(items)] if items else []
    return {"string": "<example>", "number": 0, "integer": 0, "boolean": False}.get(kind, "<unknown>")


def run_task(*, template: Template, task_id: str, values: dict, secrets: dict[str, str], user: dict,
             base: TemplateBase, registry: Any, catalog: Any, integrations: Integrations, config: ScaffolderConfig,
             recorder: Recorder, cancel: CancelWatch, dry_run: bool, allowed: set[str],
             keep_files: bool = False, inspect: Callable[[Path], Any] | None = None) -> RunResult:
    """Run every step of `template` for one task; never raises for a step's failure (it is the result)."""
    started = time.perf_counter()
    integrations = adapt(integrations)
    masker = recorder.masker
    for value in secrets.values():
        masker.add(value)
    steps_state = [{"id": _step_id(step, i), "name": step.get("name") or _step_id(step, i),
                    "action": step.get("action"), "status": "open", "started_at": None, "finished_at": None}
                   for i, step in enumerate(template.steps)]
    recorder.set_steps(steps_state)
    config.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"task-{task_id[:12]}-", dir=config.workdir))
    workspace = root / "workspace"
    workspace.mkdir()
    scratch = root / "scratch"
    scratch.mkdir()
    services = Services(workspace=workspace, scratch=scratch, base=base, integrations=integrations, config=config,
                        allowed=allowed, reveal=masker.add, log=lambda level, msg: recorder.emit(msg, level=level),
                        dry_run=dry_run)
    templater = Templater(backstage_filters(integrations), limits=config.render)
    context: dict[str, Any] = {
        "parameters": values, "steps": {}, "user": user or {}, "context": {"task": {"id": task_id}},
    }
    result = RunResult(status="completed", steps=steps_state)
    current: str | None = None
    try:
        recorder.emit(f"Starting up task with {len(template.steps)} steps")
        for index, step in enumerate(template.steps):
            current = steps_state[index]["id"]
            if cancel.event.is_set():
                raise TaskCancelled(cancel.reason or "the task was cancelled")
            _run_step(step, steps_state[index], context=context, templater=templater, services=services,
                      registry=registry, catalog=catalog, recorder=recorder, cancel=cancel, dry_run=dry_run,
                      secrets=secrets, user=user, task_id=task_id, base=base, config=config, workspace=workspace,
                      template_ref=template.ref)
            if cancel.event.is_set():
                raise TaskCancelled(cancel.reason or "the task was cancelled")
        current = None
        output = template.output
        rendered = templater.render_value(output, context) if output else {}
        result.output = masker.data(rendered or {})
        if dry_run or keep_files:
            result.files = [{**f, "text": masker.text(f["text"]) if f["text"] is not None else None}
                            for f in snapshot(workspace)]
        if inspect is not None:
            result.inspected = inspect(workspace)
        recorder.emit("Task completed", type="completion", status="completed")
    except TaskCancelled as exc:
        result.status = "cancelled"
        result.error = str(exc)
        for state in steps_state:
            if state["status"] in ("open", "processing"):
                recorder.step(state["id"], "cancelled")
        recorder.emit(f"Task cancelled: {exc}", type="cancelled", step=current, level="warning", status="cancelled")
    except _StepFailed as exc:
        result.status = "failed"
        result.error = masker.text(str(exc))
        recorder.emit(f"Task failed: {result.error}", type="completion", step=current, level="error", status="failed")
    except RenderError as exc:   # the output block
        result.status = "failed"
        result.error = masker.text(f"rendering the output failed: {exc}")
        recorder.emit(result.error, type="completion", level="error", status="failed")
    finally:
        recorder.flush()
        shutil.rmtree(root, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


class _StepFailed(Exception):
    pass


def _step_id(step: dict, index: int) -> str:
    return str(step.get("id") or f"step-{index + 1}")


def _run_step(step: dict, state: dict, *, context: dict, templater: Templater, services: Services, registry: Any,
              catalog: Any, recorder: Recorder, cancel: CancelWatch, dry_run: bool, secrets: dict, user: dict,
              task_id: str, base: TemplateBase, config: ScaffolderConfig, workspace: Path,
              template_ref: str | None = None) -> None:
    step_id, name = state["id"], state["name"]
    masker = recorder.masker
    recorder.step(step_id, "processing")
    recorder.emit(f"Beginning step {name}", step=step_id, status="processing")
    try:
        condition = step.get("if", True)
        if "each" not in step and (condition is False or (isinstance(condition, str)
                                                           and not is_truthy(templater.render_value(condition, context)))):
            recorder.step(step_id, "skipped")
            recorder.emit(f"Skipping step {step_id} because its if condition was false", step=step_id,
                          status="skipped")
            context["steps"][step_id] = {"output": {}}
            return
        try:
            action: TemplateAction = registry.action(step["action"])
        except PluginError as exc:
            raise ActionError(str(exc)) from None
        if action.permission and not services.allowed(action.permission):
            raise ActionError(f"Unauthorized action: {action.id} needs the {action.permission!r} permission, which "
                              f"the person running this template does not have")
        if dry_run and not action.supports_dry_run:
            output = example_output(action.output_schema) if action.output_schema else {}
            context["steps"][step_id] = {"output": output if isinstance(output, dict) else {}}
            recorder.step(step_id, "skipped")
            recorder.emit(f"Skipping because {action.id} does not support dry-run", step=step_id, status="skipped")
            return
        full = {**context, "secrets": {} if dry_run else secrets}
        iterations: list[dict] = [{}]
        if "each" in step:
            each = templater.render_value(step["each"], context)
            if isinstance(each, dict):
                items = list(each.items())
            elif isinstance(each, list):
                items = [(str(i), v) for i, v in enumerate(each)]
            else:
                raise ActionError(f"Invalid value on action {action.id}.each parameter, {step['each']!r} cannot be "
                                  f"resolved to a list or an object")
            if len(items) > config.max_each:
                raise ActionError(f"each: {len(items):,} iterations is more than the limit of {config.max_each:,}")
            iterations = [{"each": {"key": k, "value": v}} for k, v in items]
        planned = []
        for iteration in iterations:
            ctx_full = {**full, **iteration}
            if "each" in iteration and condition is not True:
                if condition is False or not is_truthy(templater.render_value(condition, {**context, **iteration})):
                    planned.append((iteration, None))
                    continue
            raw = step.get("input") or {}
            rendered = templater.render_value(raw, ctx_full)
            if secrets and not dry_run:
                plain = templater.render_value(raw, {**context, **iteration, "secrets": {}})
                for text in _changed_strings(rendered, plain):
                    masker.add(text)
            label = action.id + (f"[{iteration['each']['key']}]" if "each" in iteration else "")
            if action.input_schema:
                errors = sorted(jsonschema.Draft7Validator(action.input_schema).iter_errors(rendered or {}),
                                key=lambda e: list(e.absolute_path))
                if errors:
                    raise ActionError(f"Invalid input passed to action {label}: "
                                      + "; ".join(_schema_error(e) for e in errors[:10]))
            planned.append((iteration, rendered or {}))
        outputs: dict[str, Any] = {}
        for iteration, rendered in planned:
            if rendered is None:
                recorder.emit(f"Skipping step each: {iteration['each']['key']}", step=step_id)
                continue
            if cancel.event.is_set():
                raise TaskCancelled(cancel.reason or "the task was cancelled")
            if "each" in iteration:
                recorder.emit(f"Running step each: {iteration['each']['key']}", step=step_id)

            def output(key: str, value: Any, _each: bool = "each" in step) -> None:
                if _each:
                    outputs.setdefault(key, []).append(value)
                else:
                    outputs[key] = value

            ctx = ActionContext(
                input=rendered, workspace_path=workspace,
                logger=ActionLogger(lambda level, msg: recorder.emit(msg, step=step_id, level=level)),
                secrets={} if dry_run else dict(secrets), user=dict(user or {}), task_id=task_id,
                step={"id": step_id, "name": name, "action": action.id},
                template_info={"entityRef": template_ref, "baseUrl": base.base_url},
                is_dry_run=dry_run, each=iteration.get("each"), signal=cancel.event, catalog=catalog,
                limits={"max_wait": config.max_wait}, _output=output, _services=services,
            )
            try:
                action.handler(ctx)
            finally:
                services.cleanup_step()
        context["steps"][step_id] = {"output": masker.data(outputs)}
        verify(workspace, config.workspace)
        if cancel.event.is_set():
            raise TaskCancelled(cancel.reason or "the task was cancelled")
        recorder.step(step_id, "completed")
        recorder.emit(f"Finished step {name}", step=step_id, status="completed")
    except TaskCancelled:
        recorder.step(step_id, "cancelled")
        raise
    except CancelledError as exc:
        recorder.step(step_id, "cancelled")
        raise TaskCancelled(cancel.reason or str(exc)) from None
    except (ActionError, RenderError, WorkspaceError, jsonschema.SchemaError) as exc:
        _fail(recorder, step_id, str(exc))
        raise _StepFailed(f"step {step_id} failed: {exc}") from None
    except MemoryError:
        _fail(recorder, step_id, "the step ran out of memory")
        raise _StepFailed(f"step {step_id} ran out of memory") from None
    except Exception as exc:   # an action's bug: the step fails with its message, the worker lives on
        message = f"{type(exc).__name__}: {exc}"
        _fail(recorder, step_id, message)
        raise _StepFailed(f"step {step_id} failed: {message}") from None


def _fail(recorder: Recorder, step_id: str, message: str) -> None:
    recorder.step(step_id, "failed")
    recorder.emit(message, step=step_id, level="error", status="failed")


def _schema_error(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def _changed_strings(with_secrets: Any, without: Any) -> list[str]:
    """Strings of the input that differ when secrets are rendered in (they carry a secret)."""
    if isinstance(with_secrets, str):
        return [with_secrets] if with_secrets != without else []
    if isinstance(with_secrets, list):
        other = without if isinstance(without, list) else []
        return [s for i, v in enumerate(with_secrets) for s in _changed_strings(v, other[i] if i < len(other) else None)]
    if isinstance(with_secrets, dict):
        other = without if isinstance(without, dict) else {}
        return [s for k, v in with_secrets.items() for s in _changed_strings(v, other.get(k))]
    return []


def new_task_id() -> str:
    return uuid.uuid4().hex
