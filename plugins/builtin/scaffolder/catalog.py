"""catalog:register, catalog:write, catalog:fetch through the catalog service of the action context.

catalog:register needs the initiator to hold "ingest" (registering locations), as a registration through
the portal does. It registers the repository location the template just published (`repoContentsUrl` +
`catalogInfoPath`, or `catalogInfoUrl`), and outputs the registered entity (a Component first).
catalog:fetch reads only what the initiator may read.
"""
from __future__ import annotations

import yaml

from plugins.api import ActionContext, ActionError, TemplateAction
from plugins.builtin.scaffolder._files import write_bytes

SOURCE_TEMPLATE = "backstage.io/source-template"


def catalog_register(ctx: ActionContext) -> None:
    inp = ctx.input
    if inp.get("catalogInfoUrl"):
        target, path = inp["catalogInfoUrl"], None
    elif inp.get("repoContentsUrl"):
        target, path = inp["repoContentsUrl"], inp.get("catalogInfoPath") or "/catalog-info.yaml"
    else:
        raise ActionError("catalog:register needs catalogInfoUrl, or repoContentsUrl (and catalogInfoPath)")
    ctx.logger.info(f"Registering {target}{' ' + path if path else ''} in the catalog")
    try:
        refs = ctx.catalog.register(target, catalog_info_path=path)
    except ActionError:
        if not inp.get("optional"):
            raise
        ctx.logger.warning("Registration failed; continuing because optional is true")
        return
    if refs:
        ctx.output("entityRef", refs[0])
    ctx.output("catalogInfoUrl", target if path is None else target.rstrip("/") + "/" + path.lstrip("/"))


def catalog_write(ctx: ActionContext) -> None:
    entity = ctx.input.get("entity")
    if not isinstance(entity, dict):
        raise ActionError("entity must be an object")
    entity = dict(entity)
    ref = ctx.template_info.get("entityRef")
    if ref:
        metadata = dict(entity.get("metadata") or {})
        annotations = dict(metadata.get("annotations") or {})
        annotations.setdefault(SOURCE_TEMPLATE, ref)
        metadata["annotations"] = annotations
        entity["metadata"] = metadata
    path = ctx.resolve(ctx.input.get("filePath") or "catalog-info.yaml")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(entity, sort_keys=False, allow_unicode=True)
    write_bytes(path, text.encode("utf-8"))
    ctx.logger.info(f"Writing {ctx.input.get('filePath') or 'catalog-info.yaml'}")


def catalog_fetch(ctx: ActionContext) -> None:
    inp = ctx.input
    optional = bool(inp.get("optional"))
    defaults = {"defaultKind": inp.get("defaultKind"), "defaultNamespace": inp.get("defaultNamespace")}
    if not inp.get("entityRef") and not inp.get("entityRefs"):
        if optional:
            return
        raise ActionError("Missing entity reference or references")
    if inp.get("entityRef"):
        entity = ctx.catalog.get_entity(inp["entityRef"], **defaults)
        if entity is None and not optional:
            raise ActionError(f"Entity {inp['entityRef']} not found")
        ctx.output("entity", entity)
    if inp.get("entityRefs"):
        entities = ctx.catalog.get_entities(list(inp["entityRefs"]), **defaults)
        for ref, entity in zip(inp["entityRefs"], entities):
            if entity is None and not optional:
                raise ActionError(f"Entity {ref} not found")
        ctx.output("entities", entities)


ACTIONS = [
    TemplateAction(
        id="catalog:register", handler=catalog_register, permission="ingest",
        description="Registers entities from a catalog descriptor file in the workspace into the software catalog.",
        input_schema={"type": "object", "oneOf": [{"required": ["catalogInfoUrl"]}, {"required": ["repoContentsUrl"]}],
                      "properties": {
                          "catalogInfoUrl": {"type": "string", "description": "A URL or git location of the descriptor"},
                          "repoContentsUrl": {"type": "string", "description": "The root of a repository"},
                          "catalogInfoPath": {"type": "string", "description": "Path of the descriptor in it"},
                          "optional": {"type": "boolean"}}},
        output_schema={"type": "object", "properties": {
            "entityRef": {"type": "string", "examples": ["component:default/example"]},
            "catalogInfoUrl": {"type": "string"}}},
    ),
    TemplateAction(
        id="catalog:write", handler=catalog_write, supports_dry_run=True,
        description="Writes the catalog-info.yaml for your template",
        input_schema={"type": "object", "required": ["entity"], "properties": {
            "filePath": {"type": "string", "description": "Defaults to catalog-info.yaml"},
            "entity": {"type": "object"}}},
    ),
    TemplateAction(
        id="catalog:fetch", handler=catalog_fetch, supports_dry_run=True,
        description="Returns entity or entities from the catalog by entity reference(s)",
        input_schema={"type": "object", "properties": {
            "entityRef": {"type": "string"}, "entityRefs": {"type": "array", "items": {"type": "string"}},
            "optional": {"type": "boolean"}, "defaultKind": {"type": "string"},
            "defaultNamespace": {"type": "string"}}},
        output_schema={"type": "object", "properties": {"entity": {}, "entities": {"type": "array"}}},
    ),
]
