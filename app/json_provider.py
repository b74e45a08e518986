"""JSON responses through orjson: the impact and list answers are large, and serialising them with the
standard library was a visible share of their time under load."""
from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = orjson.OPT_NON_STR_KEYS
        if kwargs.get("sort_keys"):
            option |= orjson.OPT_SORT_KEYS
        try:
            return orjson.dumps(obj, option=option, default=self.default).decode()
        except TypeError:   # something orjson cannot encode (e.g. an int beyond 64 bits): the standard way
            return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)
