"""What the web process and the worker agree on. Pure: no av, no arq, no aiohttp."""

from __future__ import annotations

JOB_PROCESS_UPLOAD = "process_upload"


def job_id(upload_id: str) -> str:
    """arq refuses a second job with the same id while the first exists: one job per upload."""
    return f"{JOB_PROCESS_UPLOAD}:{upload_id}"
