"""REST API `/api/v1` (Backstage-compatible entity shapes and filter syntax)."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from app.api import routes  # noqa: E402,F401  (registers the routes on bp)
from app.api import builds_routes  # noqa: E402,F401
from app.api import search_routes  # noqa: E402,F401
from app.api import ingest_routes  # noqa: E402,F401
from app.api import webhooks  # noqa: E402,F401
from app.api import admin_routes  # noqa: E402,F401
from app.api import health_routes  # noqa: E402,F401
from app.api import scaffolder_routes  # noqa: E402,F401
