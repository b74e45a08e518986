"""Trellis TechDocs builder (see the TechDocs issue); importable as docs_builder."""
