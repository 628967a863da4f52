"""The part of a job that runs in the process pool: sync, paths in, plain dict out.

It only calls the pure transcode core, reports progress by rewriting a small file the job
polls (no Manager process, works with any executor), and stops when the job asks it to (the
job touched ``cancel`` or its scratch directory vanished). Bad media is an answer, not an
exception: ``{"error": reason}``, so nothing custom has to be pickled back.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.transcode import ProbeResult


class Cancelled(Exception):
    """The job that wanted this result is gone."""


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


class _Reporter:
    """Writes the fraction done (0..1) when it moved by at least half a percent."""

    def __init__(self, path: Path) -> None:
        self.path, self.cancel, self.work = path, path.with_name("cancel"), path.parent
        self.last = -1.0

    def __call__(self, fraction: float) -> None:
        if self.cancel.exists() or not self.work.is_dir():
            raise Cancelled("the job was cancelled")
        if fraction - self.last >= 0.005 or fraction >= 1.0:
            self.last = fraction
            tmp = self.path.with_name("progress.tmp")
            tmp.write_text(f"{fraction:.4f}")
            os.replace(tmp, self.path)


def probe_media(src: str) -> dict[str, Any]:
    """The first call of a job: ``{"probe": ProbeResult}``, or ``{"error": reason}`` for a file
    that is no media. The job makes its scratch directory only after a probe says media."""
    from pipeline.transcode import NotMediaError, probe

    try:
        return {"probe": probe(src)}
    except NotMediaError as exc:
        return {"error": exc.reason}


def process_media(
    src: str, out_dir: str, ladder: dict[str, Any], progress_file: str, probed: ProbeResult | None = None
) -> dict[str, Any]:
    """The second call: the ladder and thumbnails of ``src`` (probed first unless ``probed`` is given)."""
    from pipeline.transcode import LadderSettings, NotMediaError, make_thumbnails, plan_ladder, probe, transcode_hls

    report = _Reporter(Path(progress_file))
    settings = LadderSettings(**ladder)
    try:
        probed = probed if probed is not None else probe(src)
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        renditions = plan_ladder(probed, settings)
        # the transcode core counts in percent; the progress file holds a fraction
        hls = transcode_hls(src, out_dir, probed, renditions, settings, lambda percent: report(percent / 100.0))
        thumbs = make_thumbnails(src, out_dir, probed, count=settings.thumbnail_count)
    except NotMediaError as exc:
        return {"error": exc.reason}
    report(1.0)
    return {"probe": _plain(probed.to_dict()), "hls": _plain(hls), "thumbs": _plain(thumbs)}
