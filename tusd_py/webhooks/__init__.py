"""Webhooks: signed HTTP callbacks for upload and media events, recorded in an SQL outbox
(``outbox.py``) where they happen (``sources.py``) and sent by any API instance
(``dispatcher.py``). docs/operations.md, "Webhooks", is the operator's and receiver's view."""
