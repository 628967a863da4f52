"""The public origin of a request: the scheme and host its client used. The tus handlers put it
in ``Location``, playback in the signed URLs it hands out.

Proxy headers count only behind a trusted proxy (``TUSD_BEHIND_PROXY``): otherwise any client
could steer the URLs we hand out. Then the first element of ``Forwarded`` (RFC 7239, parsed by
aiohttp's ``request.forwarded``) is read, and ``X-Forwarded-Host``/``-Proto`` win over it.
"""

from __future__ import annotations

from aiohttp import web

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = (("http", "80"), ("https", "443"))


def host_and_proto(request: web.Request, *, behind_proxy: bool) -> tuple[str, str]:
    """(host, scheme) of the request as its client sees it; a default port is dropped."""
    host, proto = request.host, request.scheme
    if behind_proxy:
        first = request.forwarded[0] if request.forwarded else {}
        host = first.get("host") or host
        if first.get("proto") in _SCHEMES:
            proto = first["proto"]
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
        xproto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if xproto in _SCHEMES:
            proto = xproto
    if (proto, host.rpartition(":")[2]) in _DEFAULT_PORTS:
        host = host.rpartition(":")[0]
    return host, proto


def absolute_url(request: web.Request, path: str, *, public_base_url: str, behind_proxy: bool) -> str:
    """``path`` under ``public_base_url`` when one is configured, else under the request's origin."""
    if public_base_url:
        return public_base_url.rstrip("/") + path
    host, proto = host_and_proto(request, behind_proxy=behind_proxy)
    return f"{proto}://{host}{path}"
