"""fs:rename and fs:delete inside the workspace (paths through ctx.resolve: no absolute paths, no `..`
escapes, no symbolic links; Backstage's CVE-2026-24046 deleted through a link)."""
from __future__ import annotations

import os
import shutil

from plugins.api import ActionContext, ActionError, TemplateAction
from plugins.builtin.scaffolder._files import matches, walk


def fs_rename(ctx: ActionContext) -> None:
    files = ctx.input.get("files")
    if not isinstance(files, list):
        raise ActionError("files must be an Array")
    for item in files:
        if not isinstance(item, dict) or not item.get("from") or not item.get("to"):
            raise ActionError("each file must have a from and to property")
        source = ctx.resolve(item["from"])
        dest = ctx.resolve(item["to"])
        if not os.path.lexists(source):
            raise ActionError(f"{item['from']} does not exist")
        if os.path.lexists(dest):
            if not item.get("overwrite"):
                raise ActionError(f"{item['to']} exists already (set overwrite: true to replace it)")
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            else:
                os.unlink(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, dest)
        ctx.logger.info(f"File {item['from']} renamed to {item['to']} successfully")


def fs_delete(ctx: ActionContext) -> None:
    files = ctx.input.get("files")
    if not isinstance(files, list):
        raise ActionError("files must be an Array")
    globs = [f for f in files if isinstance(f, str) and any(c in f for c in "*?[{")]
    plain = [f for f in files if isinstance(f, str) and f not in globs]
    targets = [ctx.resolve(f) for f in plain]
    if globs:
        targets += [path for rel, path, _ in walk(ctx.workspace_path) if matches(globs, rel)]
    for path in targets:
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        ctx.logger.info(f"File {os.path.relpath(path, ctx.workspace_path)} deleted successfully")


ACTIONS = [
    TemplateAction(
        id="fs:rename", handler=fs_rename, supports_dry_run=True,
        description="Renames files and directories within the workspace",
        input_schema={"type": "object", "required": ["files"], "properties": {"files": {
            "type": "array", "title": "Files", "items": {"type": "object", "required": ["from", "to"], "properties": {
                "from": {"type": "string"}, "to": {"type": "string"}, "overwrite": {"type": "boolean"}}}}}},
    ),
    TemplateAction(
        id="fs:delete", handler=fs_delete, supports_dry_run=True,
        description="Deletes files and directories from the workspace (paths or glob patterns)",
        input_schema={"type": "object", "required": ["files"], "properties": {
            "files": {"type": "array", "title": "Files", "items": {"type": "string"}}}},
    ),
]
