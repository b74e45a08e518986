"""fetch:plain, fetch:plain:file, fetch:template, fetch:template:file (Backstage's inputs and meaning).

fetch:template renders file and folder names and file contents with the sandboxed templater (`${{ values.x }}`,
or `{{ cookiecutter.x }}` with cookiecutterCompat). A rendered name that is empty, starts with '/' or contains
'//' skips the entry (that is how templates make files optional); one that climbs out of the target fails.
`templateFileExtension` renders only files with that extension (dropping it); `copyWithoutTemplating` copies
matching contents as they are but still renders their names; the older `copyWithoutRender` leaves matching
entries untouched, names included. Binary files are copied as they are. Existing files are kept unless
`replace` is true.
"""
from __future__ import annotations

import os

from plugins.api import ActionContext, ActionError, TemplateAction
from plugins.builtin.scaffolder._files import is_binary, matches, read_bytes, walk, write_bytes

_TEMPLATE_OPTIONS = {
    "values": {"title": "Template Values", "description": "Values to pass on to the templating engine",
               "type": "object"},
    "cookiecutterCompat": {"title": "Cookiecutter compatibility mode", "type": "boolean",
                           "description": "{{ cookiecutter.x }} instead of ${{ values.x }}, and the jsonify filter"},
    "replace": {"title": "Replace files", "type": "boolean",
                "description": "Replace files in targetPath instead of skipping existing ones"},
    "trimBlocks": {"type": "boolean", "title": "Remove the first newline after a block tag"},
    "lstripBlocks": {"type": "boolean", "title": "Strip whitespace before a block tag"},
}


def fetch_plain(ctx: ActionContext) -> None:
    target = ctx.resolve(ctx.input.get("targetPath") or "./")
    ctx.logger.info(f"Fetching plain content from {ctx.input['url']}")
    ctx.fetch_contents(ctx.input["url"], target)


def fetch_plain_file(ctx: ActionContext) -> None:
    target = ctx.resolve(ctx.input["targetPath"])
    ctx.logger.info(f"Fetching plain file from {ctx.input['url']}")
    ctx.fetch_file(ctx.input["url"], target)


def _settings(inp: dict) -> tuple[list[str] | None, bool, str | None]:
    without_render = inp.get("copyWithoutRender")
    without_templating = inp.get("copyWithoutTemplating")
    if without_render and without_templating:
        raise ActionError("Fetch action input copyWithoutRender and copyWithoutTemplating can not be used at the "
                          "same time")
    patterns = without_render or without_templating
    if patterns is not None and not isinstance(patterns, list):
        raise ActionError("Fetch action input copyWithoutRender/copyWithoutTemplating must be an Array")
    extension = inp.get("templateFileExtension")
    if extension and (patterns or inp.get("cookiecutterCompat")):
        raise ActionError("Fetch action input extension incompatible with copyWithoutRender/copyWithoutTemplating "
                          "and cookiecutterCompat")
    ext: str | None = None
    if extension:
        ext = ".njk" if extension is True else str(extension)
        if not ext.startswith("."):
            ext = "." + ext
    return patterns, not bool(without_render), ext


def _skipped(path: str) -> bool:
    return path == "" or path.startswith("/") or "//" in path


def fetch_template(ctx: ActionContext) -> None:
    inp = ctx.input
    patterns, render_names, extension = _settings(inp)
    target = ctx.resolve(inp.get("targetPath") or "./")
    work = ctx.create_temporary_directory()
    template_dir = work / "template"
    ctx.logger.info("Fetching template content from remote URL")
    ctx.fetch_contents(inp["url"], template_dir)
    entries = walk(template_dir)
    compat = bool(inp.get("cookiecutterCompat"))
    templater = ctx.templater(cookiecutter_compat=compat, trim_blocks=bool(inp.get("trimBlocks")),
                              lstrip_blocks=bool(inp.get("lstripBlocks")))
    context = {"cookiecutter" if compat else "values": inp.get("values") or {}}
    ctx.logger.info(f"Processing {len(entries)} template files/directories with input values")
    written = 0
    for rel, path, is_dir in entries:
        ctx.check_cancelled()
        if extension:
            render_contents = not is_dir and os.path.splitext(rel)[1] == extension
            out_rel = rel[: -len(extension)] if render_contents else rel
            out_rel = templater.render_path(out_rel, context)
        else:
            render_contents = not matches(patterns, rel)
            out_rel = templater.render_path(rel, context) if (render_names or render_contents) else rel
        if _skipped(out_rel):
            continue
        out = ctx.resolve(out_rel, under=target)
        if os.path.lexists(out) and not inp.get("replace"):
            continue
        if is_dir:
            out.mkdir(parents=True, exist_ok=True)
            continue
        data = read_bytes(path)
        mode = os.lstat(path).st_mode
        if is_binary(data):
            ctx.logger.info(f"Copying file binary at {rel}, to template output path.")
            write_bytes(out, data, mode)
        elif render_contents:
            write_bytes(out, templater.render(data.decode("utf-8"), context).encode("utf-8"), mode)
        else:
            ctx.logger.info(f"Copying file/directory {rel} without processing.")
            write_bytes(out, data, mode)
        written += 1
    ctx.logger.info(f"Template result written to {inp.get('targetPath') or './'} ({written} files)")


def fetch_template_file(ctx: ActionContext) -> None:
    inp = ctx.input
    target = ctx.resolve(inp["targetPath"])
    if os.path.lexists(target) and not inp.get("replace"):
        ctx.logger.info(f"{inp['targetPath']} exists already; kept (set replace: true to overwrite)")
        return
    work = ctx.create_temporary_directory()
    source = work / "template-file"
    ctx.fetch_file(inp["url"], source)
    compat = bool(inp.get("cookiecutterCompat"))
    templater = ctx.templater(cookiecutter_compat=compat, trim_blocks=bool(inp.get("trimBlocks")),
                              lstrip_blocks=bool(inp.get("lstripBlocks")))
    data = read_bytes(source)
    if is_binary(data):
        write_bytes(target, data, os.lstat(source).st_mode)
        return
    context = {"cookiecutter" if compat else "values": inp.get("values") or {}}
    write_bytes(target, templater.render(data.decode("utf-8"), context).encode("utf-8"), os.lstat(source).st_mode)
    ctx.logger.info(f"Template file written to {inp['targetPath']}")


ACTIONS = [
    TemplateAction(
        id="fetch:plain", handler=fetch_plain, supports_dry_run=True,
        description="Downloads content and places it in the workspace, or optionally in a subdirectory specified "
                    "by the targetPath input option.",
        input_schema={"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string", "title": "Fetch URL",
                    "description": "Relative path or absolute URL pointing to the directory tree to fetch"},
            "targetPath": {"type": "string", "title": "Target Path",
                           "description": "Target path within the working directory to download the contents to."}}},
    ),
    TemplateAction(
        id="fetch:plain:file", handler=fetch_plain_file, supports_dry_run=True,
        description="Downloads single file and places it in the workspace.",
        input_schema={"type": "object", "required": ["url", "targetPath"], "properties": {
            "url": {"type": "string", "title": "Fetch URL"},
            "targetPath": {"type": "string", "title": "Target Path"}}},
    ),
    TemplateAction(
        id="fetch:template", handler=fetch_template, supports_dry_run=True,
        description="Downloads a skeleton, templates variables into file and directory names and content, and "
                    "places the result in the workspace, or optionally in a subdirectory specified by targetPath.",
        input_schema={"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string", "title": "Fetch URL"},
            "targetPath": {"type": "string", "title": "Target Path"},
            "copyWithoutRender": {"type": "array", "items": {"type": "string"},
                                  "title": "[Deprecated] Copy Without Render"},
            "copyWithoutTemplating": {"type": "array", "items": {"type": "string"}, "title": "Copy Without Templating"},
            "templateFileExtension": {"type": ["string", "boolean"], "title": "Template File Extension"},
            **_TEMPLATE_OPTIONS}},
    ),
    TemplateAction(
        id="fetch:template:file", handler=fetch_template_file, supports_dry_run=True,
        description="Downloads a single file and templates variables into its content.",
        input_schema={"type": "object", "required": ["url", "targetPath"], "properties": {
            "url": {"type": "string", "title": "Fetch URL"},
            "targetPath": {"type": "string", "title": "Target Path"}, **_TEMPLATE_OPTIONS}},
    ),
]
