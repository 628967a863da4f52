"""The web application served at ``/``: sign-up and log-in, uploads with Uppy, My videos, Watch.

The page and its bundle are static files (``static/``, built from ``web/`` by ``make frontend``);
``routes.py`` serves them. Everything the page does goes through the public HTTP API.
"""

from .routes import setup_webapp_routes

__all__ = ["setup_webapp_routes"]
