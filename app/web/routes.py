"""Page routes (being built: see the portal issue)."""
