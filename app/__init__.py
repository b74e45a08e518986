"""The Trellis web application: server-rendered portal pages and the REST API under /api/v1."""
from __future__ import annotations

from flask import Flask

from app import settings
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
    # Settings are read once, here: a misconfigured portal refuses to start (ConfigError). Views, services and
    # the jobs they queue take them from the app (app.settings.current), never from the file or environment.
    settings.install(app, settings.load(config))
    init_graph(app)

    # the blueprints (and the plugins they load) are for a made app only; the CLI imports this package too
    from app.admin import bp as admin_bp  # noqa: PLC0415 -- heavy: not for the CLI
    from app.api import bp as api_bp  # noqa: PLC0415 -- heavy: not for the CLI
    from app.auth.headers import add_security_headers  # noqa: PLC0415 -- heavy: not for the CLI
    from app.auth.session import init_session  # noqa: PLC0415 -- heavy: not for the CLI
    from app.auth.signin import init_signin  # noqa: PLC0415 -- heavy: not for the CLI
    from app.errors import register_error_handlers  # noqa: PLC0415 -- heavy: not for the CLI
    from app.metrics import init_metrics  # noqa: PLC0415 -- heavy: not for the CLI
    from app.proxy import init_proxy  # noqa: PLC0415 -- heavy: not for the CLI
    from app.web import bp as web_bp  # noqa: PLC0415 -- heavy: not for the CLI

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
