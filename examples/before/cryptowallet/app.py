"""The application factory."""

import logging

from flask import Flask, jsonify

from .database import init_db
from .views import bp


def create_app(config=None):
    app = Flask(__name__)
    app.config.from_mapping(LOG_LEVEL="INFO")
    if config:
        app.config.update(config)
    app.register_blueprint(bp, url_prefix="/api")

    @app.errorhandler(404)
    def not_found(error):
        return jsonify(error="not found"), 404

    @app.errorhandler(400)
    def bad_request(error):
        return jsonify(error=error.description), 400

    @app.cli.command("init-db")
    def init_db_command():
        """Create the tables."""
        init_db()

    if app.testing:
        return app

    logging.basicConfig(level=app.config["LOG_LEVEL"])
    return app
