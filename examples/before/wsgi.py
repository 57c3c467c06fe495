"""Entry point for the WSGI server: `gunicorn wsgi:app`."""

from cryptowallet.app import create_app

app = create_app()
