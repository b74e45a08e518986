"""The Trellis web application: server-rendered portal pages and the REST API under /api/v1."""
from __future__ import annotations

from flask import Flask

from app.config import load_settings
from app.graph_access import init_graph
from app.json_provider import OrjsonProvider
from app.version import version


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
    # Sign-in, roles and rules are checked here: a misconfigured portal refuses to start (ConfigError).
    app.config.update(load_settings(config))
    init_graph(app)

    from app.admin import bp as admin_bp
    from app.api import bp as api_bp
    from app.auth.headers import add_security_headers
    from app.auth.session import init_session
    from app.auth.signin import init_signin
    from app.errors import register_error_handlers
    from app.metrics import init_metrics
    from app.proxy import init_proxy
    from app.web import bp as web_bp

    init_metrics(app)   # first: its timer also sees requests the sign-in gate answers (401, redirects)
    init_session(app)
    init_signin(app)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp)
    add_security_headers(app)
    register_error_handlers(app)
    app.jinja_env.globals["trellis_version"] = version()
    init_proxy(app)
    return app
