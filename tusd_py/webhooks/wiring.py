"""``Webhooks``: the outbox, its dispatcher and the event sources of one process, over one engine.

The server wraps its catalogue and completion sink with ``catalogue``/``sink``, hands ``media``
to the embedded pipeline, and runs ``dispatcher`` in its background tasks; the worker only
records (``media``, with the upload store ``attach``ed once it is open).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from ..core.catalogue import Catalogue
from ..core.ports import CompletionSink, Store
from .dispatcher import Dispatcher
from .outbox import SqlOutbox
from .settings import WebhookSettings
from .sources import EventingCatalogue, EventingSink, EventRecorder, OutboxMediaEvents


class Webhooks:
    def __init__(
        self,
        settings: WebhookSettings,
        engine: AsyncEngine,
        store: Store | None = None,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = SqlOutbox(engine)
        self.dispatcher = Dispatcher(self.outbox, settings, on_attempt)
        self.recorder = EventRecorder(self.outbox, settings.urls, self.dispatcher.notify)
        self.media = OutboxMediaEvents(self.recorder, store)

    def catalogue(self, inner: Catalogue) -> Catalogue:
        return EventingCatalogue(inner, self.recorder)

    def sink(self, inner: CompletionSink) -> CompletionSink:
        return EventingSink(inner, self.recorder)
