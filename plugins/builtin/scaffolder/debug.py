"""debug:log and debug:wait.

debug:log writes its message (and, with listWorkspace, the workspace's files, never following links:
Backstage's CVE-2026-24046 read files through a link) into the task log; the log masks secrets.
debug:wait waits up to scaffolder.max_wait (default 30 s) and stops at once when the task is cancelled.
"""
from __future__ import annotations

import json

from plugins.api import ActionContext, ActionError, CancelledError, TemplateAction
from plugins.builtin.scaffolder._files import is_binary, read_bytes, walk

MAX_SHOWN = 64 * 1024


def debug_log(ctx: ActionContext) -> None:
    ctx.logger.info(json.dumps(ctx.input, indent=2, default=str))
    if ctx.input.get("message"):
        ctx.logger.info(str(ctx.input["message"]))
    listing = ctx.input.get("listWorkspace")
    if listing:
        entries = [(rel, path) for rel, path, is_dir in walk(ctx.workspace_path) if not is_dir]
        lines = ["Workspace:"] + [f"  - {rel}" for rel, _ in entries]
        ctx.logger.info("\n".join(lines))
        if listing == "with-contents":
            for rel, path in entries:
                data = read_bytes(path)
                if not is_binary(data) and len(data) <= MAX_SHOWN:
                    ctx.logger.info(f"{rel}:\n{data.decode('utf-8')}")


def debug_wait(ctx: ActionContext) -> None:
    inp = ctx.input
    seconds = float(inp.get("minutes") or 0) * 60 + float(inp.get("seconds") or 0) \
        + float(inp.get("milliseconds") or 0) / 1000
    limit = float(ctx.limits.get("max_wait", 30))
    if seconds > limit:
        raise ActionError(f"Waiting duration is longer than the maximum threshold of {limit:g} seconds")
    ctx.logger.info(f"Waiting {seconds:g} seconds")
    if ctx.signal is not None and ctx.signal.wait(seconds):
        raise CancelledError("the wait was cancelled")


ACTIONS = [
    TemplateAction(
        id="debug:log", handler=debug_log, supports_dry_run=True,
        description="Writes a message into the log or lists all files in the workspace.",
        input_schema={"type": "object", "properties": {
            "message": {"type": "string", "title": "Message to output."},
            "listWorkspace": {"type": ["boolean", "string"], "enum": [True, False, "with-filenames", "with-contents"],
                              "title": "List all files in the workspace, if true."},
            "extra": {"title": "Extra info"}}},
    ),
    TemplateAction(
        id="debug:wait", handler=debug_wait,
        description="Waits for a certain period of time.",
        input_schema={"type": "object", "properties": {
            "minutes": {"type": "number", "title": "Waiting period in minutes.", "minimum": 0},
            "seconds": {"type": "number", "title": "Waiting period in seconds.", "minimum": 0},
            "milliseconds": {"type": "number", "title": "Waiting period in milliseconds.", "minimum": 0}}},
    ),
]
