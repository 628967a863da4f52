"""Direct-to-S3 uploads (issue 15): the server signs, the client sends the bytes to the bucket.

``settings.py`` (the ``direct`` section), ``ports.py`` (``DirectStorage``, what the service needs
of S3; ``tusd_py/stores/s3/direct.py`` implements it), ``service.py`` (the rules: sizes, quota,
ownership, completion through the tus core's finisher), ``routes.py`` (the Companion-compatible
HTTP API under ``/s3/``). ``app.py`` wires them when ``TUSD_DIRECT_UPLOADS`` is on.
"""
