"""The ${{ values.name }} HTTP service."""
from __future__ import annotations

import os

from flask import Flask, jsonify

SERVICE = "${{ values.name }}"


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz():
        return "ok"

    @app.get("/")
    def index():
        return jsonify({"service": SERVICE})

    return app


app = create_app()

if __name__ == "__main__":
    app.run(port=int(os.environ.get("PORT", "${{ values.port }}")))
