"""Admission: how much of the server the requests of one moment may hold.

Upload bodies in flight are capped server-wide (``TUSD_MAX_UPLOADS_IN_FLIGHT``): each one holds
a store writer, its buffers and, on S3, parts in flight, so a flood of slow bodies would take
the memory and the store's connections from everyone. Beyond the cap a PATCH or POST with a
body is answered 503 ``ERR_SERVER_BUSY`` with ``Retry-After`` before a byte of it is read; tus
clients retry a 5xx from the same offset, so a busy moment costs a client a delay, never its upload.

Event streams are capped per client address (``TUSD_SSE_PER_CLIENT``): a stream holds a
subscription for up to ``TUSD_SSE_MAX_LIFETIME`` seconds, and one page needs one per upload it
watches, not hundreds. Beyond the cap 429 ``ERR_TOO_MANY_REQUESTS`` with ``Retry-After``.

Counting is exact: a slot is a context manager, released when its request ends however it ends
(an error, a client that vanished, a cancelled handler). Open client connections are capped one
level lower, where connections are accepted (``web/connections.py``).
"""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from ..protocol.errors import ServerBusy, TooManyRequests


class Admission:
    __slots__ = ("max_uploads", "retry_after", "sse_per_client", "streams", "trust_forwarded", "uploads")

    def __init__(
        self, *, max_uploads: int, sse_per_client: int, retry_after: int, trust_forwarded: bool = False
    ) -> None:
        self.max_uploads = max_uploads  # 0 = no cap
        self.sse_per_client = sse_per_client
        self.retry_after = retry_after
        self.trust_forwarded = trust_forwarded
        self.uploads = 0
        self.streams: dict[str, int] = {}  # client address -> open event streams; no entry at 0

    def check_upload(self, request: web.BaseRequest) -> None:
        """Raise ServerBusy if a body sent now would be refused (Expect: 100-continue asks this)."""
        if request.body_exists and self.max_uploads and self.uploads >= self.max_uploads:
            raise ServerBusy(
                f"{self.uploads} upload bodies are in flight, the most this server receives at once "
                f"(TUSD_MAX_UPLOADS_IN_FLIGHT); retry in {self.retry_after}s",
                retry_after=self.retry_after,
            )

    def upload(self, request: web.BaseRequest) -> _UploadSlot:
        """Around one PATCH or POST: takes a slot if the request carries a body, else nothing."""
        return _UploadSlot(self, request)

    def client(self, request: web.BaseRequest) -> str:
        """The client's address. Behind a proxy (TUSD_BEHIND_PROXY) every request comes from the
        proxy, so the address is the last X-Forwarded-For entry: the one the proxy appended,
        which a client cannot forge the way it can forge the entries before it."""
        if self.trust_forwarded and (forwarded := request.headers.get("X-Forwarded-For")):
            return forwarded.rpartition(",")[2].strip() or (request.remote or "")
        return request.remote or ""

    def stream(self, request: web.BaseRequest) -> _StreamSlot:
        """Around one event stream; raises TooManyRequests if its client already holds the most."""
        return _StreamSlot(self, self.client(request))


class _UploadSlot:
    """A class, not @contextmanager: it wraps every PATCH and POST."""

    __slots__ = ("admission", "counted", "request")

    def __init__(self, admission: Admission, request: web.BaseRequest) -> None:
        self.admission, self.request, self.counted = admission, request, False

    def __enter__(self) -> None:
        admission = self.admission
        if self.request.body_exists:
            admission.check_upload(self.request)
            admission.uploads += 1
            self.counted = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.counted:
            self.admission.uploads -= 1


class _StreamSlot:
    __slots__ = ("admission", "client")

    def __init__(self, admission: Admission, client: str) -> None:
        self.admission, self.client = admission, client

    def __enter__(self) -> None:
        admission, client = self.admission, self.client
        held = admission.streams.get(client, 0)
        if held >= admission.sse_per_client:
            raise TooManyRequests(
                f"{held} event streams are open from this address, the most one client may hold "
                f"(TUSD_SSE_PER_CLIENT); retry in {admission.retry_after}s",
                retry_after=admission.retry_after,
            )
        admission.streams[client] = held + 1

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        streams = self.admission.streams
        held = streams[self.client] - 1
        if held:
            streams[self.client] = held
        else:
            del streams[self.client]  # an address that closed its streams costs no memory
