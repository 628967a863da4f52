"""The part of a job that runs in the process pool: sync, paths in, plain dict out.

It only calls the pure transcode core. Progress goes back to the job, and the job's
cancellation comes in, through the pool's own channel (``pool.py``): the call gets a token and
reports through ``progress_sender(token)``, which raises ``Cancelled`` once the job gave up. Bad
media is an answer, not an exception: ``{"error": reason}``, so nothing custom has to be
pickled back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.pool import progress_sender

if TYPE_CHECKING:
    from pipeline.transcode import ProbeResult


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def probe_media(src: str) -> dict[str, Any]:
    """The first call of a job: ``{"probe": ProbeResult}``; ``{"plain": reason}`` for a file that
    is no media at all (it is only stored); ``{"error": reason}`` for truncated or corrupt media.
    The job makes its scratch directory only after a probe says media."""
    from pipeline.transcode import NotMediaError, probe

    try:
        return {"probe": probe(src)}
    except NotMediaError as exc:
        return {"plain": exc.reason} if exc.plain_file else {"error": exc.reason}


def process_media(
    src: str, out_dir: str, ladder_settings: dict[str, Any], token: int | None = None, probed: ProbeResult | None = None
) -> dict[str, Any]:
    """The second call: the ladder and thumbnails of ``src`` (probed first unless ``probed`` is
    given), reporting progress under ``token`` (from ``JobPool.progress_to``)."""
    from pipeline.transcode import LadderSettings, NotMediaError, make_thumbnails, plan_ladder, probe, transcode_hls

    report = progress_sender(token)
    settings = LadderSettings(**ladder_settings)
    try:
        probed = probed if probed is not None else probe(src)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        renditions = plan_ladder(probed, settings)
        # the transcode core counts in percent; the channel carries a fraction
        hls = transcode_hls(src, out_dir, probed, renditions, settings, lambda percent: report(percent / 100.0))
        thumbs = make_thumbnails(src, out_dir, probed, count=settings.thumbnail_count)
    except NotMediaError as exc:
        return {"error": exc.reason}
    report(1.0)
    return {"probe": _plain(probed.to_dict()), "hls": _plain(hls), "thumbs": _plain(thumbs)}
