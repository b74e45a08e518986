"""API routes (being built: see the portal issue)."""
