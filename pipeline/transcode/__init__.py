"""The pure, synchronous media core: probe, ladder, HLS and thumbnails with PyAV.

Every entry point takes paths and plain values and returns a dataclass, so the worker can run
it in a process pool. Nothing here knows about Redis, S3, arq or aiohttp.
"""

from .hls import HlsResult, transcode_hls
from .ladder import LadderSettings, Rendition, plan_ladder
from .probe import NotMediaError, ProbeResult, StreamInfo, probe
from .thumbs import ThumbResult, make_thumbnails

__all__ = [
    "HlsResult",
    "LadderSettings",
    "NotMediaError",
    "ProbeResult",
    "Rendition",
    "StreamInfo",
    "ThumbResult",
    "make_thumbnails",
    "plan_ladder",
    "probe",
    "transcode_hls",
]
