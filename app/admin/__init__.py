"""Admin pages (roles, audit log) and every user's own API tokens.

Views are thin: they check access, call graph/ and app.auth functions, and render.
"""
from flask import Blueprint

bp = Blueprint("admin", __name__, template_folder="../templates")

from app.admin import views  # noqa: E402,F401  (registers the routes on bp)
