"""An import-linter contract type the built-in ones cannot state: "these packages may import only that module
(plus their own package and third-party libraries)". LAYERING.md's door rule is an allow-list
(`plugins.builtin.<name>` imports only `plugins.api`), and `forbidden` contracts are deny-lists that a new
door-internal module (an HTTP client, a recorder) would silently slip past.

Used by pyproject.toml's `[tool.importlinter]` (`contract_types`); `scripts/lint` puts the repository on the
path so `tests.support.import_contracts` is importable there.
"""
from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils
from importlinter.domain import helpers


class OnlyThroughContract(Contract):
    """Each package matched by `source_modules` (wildcards allowed, e.g. `plugins.builtin.*`) may directly
    import, among the root packages, only `allowed_modules` (and their descendants) and its own package.
    Third-party imports are not this contract's concern (`forbidden` contracts cover e.g. neo4j).

    Options: source_modules, allowed_modules, ignore_imports (as in the built-in contracts, each with a
    comment naming what removes it)."""

    type_name = "only_through"

    source_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    allowed_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        warnings = contract_utils.remove_ignored_imports(
            graph=graph, ignore_imports=self.ignore_imports,
            unmatched_alerting=self.unmatched_ignore_imports_alerting)
        allowed: set[str] = set()
        for module in helpers.module_expressions_to_modules(graph, self.allowed_modules):
            allowed |= {module.name} | graph.find_descendants(module.name)
        roots = {name.split(".")[0] for name in self.graph_roots(graph)}
        illegal = []
        for package in sorted(m.name for m in helpers.module_expressions_to_modules(graph, self.source_modules)):
            own = {package} | graph.find_descendants(package)
            for importer in sorted(own):
                for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                    if imported in own or imported in allowed or imported.split(".")[0] not in roots:
                        continue
                    lines = tuple(d["line_number"] for d in graph.get_import_details(importer=importer,
                                                                                     imported=imported))
                    illegal.append((importer, imported, lines))
        return ContractCheck(kept=not illegal, warnings=warnings, metadata={"illegal": illegal})

    def graph_roots(self, graph: grimp.ImportGraph) -> set[str]:
        """Our own packages: the modules the graph has squashed are third-party (include_external_packages)."""
        return {m for m in graph.modules if "." not in m and not graph.is_module_squashed(m)}

    def render_broken_contract(self, check: ContractCheck) -> None:
        allowed = ", ".join(str(m) for m in self.allowed_modules)
        for importer, imported, lines in check.metadata["illegal"]:
            output.print_error(f"- {importer} -> {imported} (l.{', '.join(map(str, lines))}): "
                               f"only {allowed} or its own package", bold=False)
            output.new_line()
