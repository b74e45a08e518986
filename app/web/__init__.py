"""Server-rendered portal pages."""
from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="../templates", static_folder="../static",
               static_url_path="/static")

from app.web import routes  # noqa: E402,F401  (registers the routes on bp)
from app.web import ci_views  # noqa: E402,F401  (the CI card on entity pages)
from app.web import search_views  # noqa: E402,F401  (the /search results page)
from app.web import docs_views  # noqa: E402,F401  (TechDocs pages and the Docs tab service)
from app.web import plugin_views  # noqa: E402,F401  (plugin tabs, cards and pages)
from app.web import runs_views  # noqa: E402,F401  (the ingest runs pages)
from app.web import scaffolder_views  # noqa: E402,F401  (Software Templates: create, tasks, dry run)
