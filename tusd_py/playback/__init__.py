"""Playback: what a viewer of processed media talks to, apart from the tus handlers.

* ``status.py``: ``GET /media/{id}`` (JSON) and its SSE stream ``/media/{id}/events``;
* ``delivery.py``: signed HLS playlists, the key endpoint, segments, decrypted files;
* ``downloads.py``: serving bytes by range, and the tus GET's ``Downloads`` port (a finished
  upload, or its decrypted kept original once processing replaced it);
* ``ports.py``: what playback needs from the pipeline (``MediaStatusSource``, ``Vault``,
  ``OriginalSource``, ``ByteSource``), the ``Signer`` of delivery URLs, its errors;
* ``keys.py``: its AppKeys; ``routes.py``: ``setup_playback_routes``.

Imports: aiohttp, ``tusd_py.protocol``, ``tusd_py.keys``, ``tusd_py.origin``, the shared
``tusd_py.web.middlewares`` helpers, and from the pipeline only its pure contract and crypto
signing (``pipeline.contract``, ``pipeline.crypto.signing``, ``pipeline.crypto.keys``' errors).
The tus handlers never import playback: ``app.py`` wires it in.
"""

from .routes import setup_playback_routes

__all__ = ["setup_playback_routes"]
