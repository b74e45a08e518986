"""Geometry for the server-rendered SVG charts (the template draws it; no chart library, no JavaScript)."""
from __future__ import annotations

import math

KIND_ORDER = ("Component", "API", "Resource", "System", "Domain", "Template")


def ownership_bars(groups: list[dict], *, width: int = 1100, bar_height: int = 18, gap: int = 8,
                   label_width: int = 220) -> dict:
    """A horizontal stacked bar per group: what it owns (directly and via sub-groups), one segment per kind."""
    rows = [g for g in groups if g["total_count"]] or []
    kinds = [k for k in KIND_ORDER if any(k in g["total"] for g in rows)]
    kinds += sorted({k for g in rows for k in g["total"]} - set(kinds))
    biggest = max((g["total_count"] for g in rows), default=0)
    plot = width - label_width - 50
    scale = plot / biggest if biggest else 0
    step = _nice_step(biggest)
    ticks = [
        {"value": v, "x": label_width + v * scale}
        for v in range(0, biggest + 1, step)
    ] if biggest else []
    bars = []
    for i, g in enumerate(rows):
        y = 24 + i * (bar_height + gap)
        x = label_width
        segments = []
        for kind in kinds:
            count = g["total"].get(kind, 0)
            if count:
                w = count * scale
                segments.append({"kind": kind, "count": count, "x": round(x, 1), "width": round(w, 1)})
                x += w
        bars.append({
            "group": g["group"], "title": g.get("title") or "", "level": g["level"], "y": y,
            "total": g["total_count"], "direct": g["direct_count"], "end": round(x, 1),
            "segments": segments,
        })
    height = 24 + len(rows) * (bar_height + gap) + 10
    return {"width": width, "height": height, "bar_height": bar_height, "label_width": label_width,
            "kinds": kinds, "bars": bars, "ticks": ticks}


def _nice_step(biggest: int) -> int:
    if biggest <= 10:
        return 1 if biggest <= 5 else 2
    raw = biggest / 6
    magnitude = 10 ** int(math.floor(math.log10(raw)))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw:
            return int(m * magnitude)
    return int(10 * magnitude)
