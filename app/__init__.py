"""The Trellis web application: server-rendered portal pages and the REST API under /api/v1."""
from __future__ import annotations

from flask import Flask

from app.graph_access import init_graph
from app.json_provider import OrjsonProvider


def create_app(config: dict | None = None) -> Flask:
    """Application factory (the Flask tutorial's pattern): config, the graph connection, blueprints."""
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.from_mapping(
        NEO4J_URI=None,           # None: graph.driver.Settings.from_env()
        NEO4J_USER=None,
        NEO4J_PASSWORD=None,
        NEO4J_DATABASE=None,
        JSON_SORT_KEYS=False,
    )
    if config:
        app.config.update(config)
    init_graph(app)

    from app.api import bp as api_bp
    from app.web import bp as web_bp
    from app.errors import register_error_handlers

    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(web_bp)
    register_error_handlers(app)
    return app
