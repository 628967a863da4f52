"""Frame helpers shared by the ladder and the thumbnails: turning phone video upright.

Phones record sideways and store a display matrix instead of rotating pixels. Players that
read HLS (and our JPEGs) do not look at it, so the pixels are turned here, once per decoded
frame, with FFmpeg's transpose/flip filters (the same ones ``ffmpeg`` inserts on its own).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import av.filter

# clockwise quarter turns -> the filter chain that undoes them (what ffmpeg's autorotate uses)
_CHAINS: dict[int, tuple[tuple[str, str], ...]] = {
    90: (("transpose", "clock"),),
    180: (("hflip", ""), ("vflip", "")),
    270: (("transpose", "cclock"),),
}


class Rotator:
    """Callable that returns frames upright; a no-op for rotation 0. One per decode loop."""

    def __init__(self, rotation: int) -> None:
        self.chain = _CHAINS.get(rotation % 360, ())
        self._graph: Any = None
        self._shape: tuple[int, int, str] | None = None

    def __call__(self, frame: Any) -> Any:
        if not self.chain:
            return frame
        shape = (frame.width, frame.height, frame.format.name)
        if self._graph is None or shape != self._shape:  # (re)build when the stream changes size
            self._graph, self._shape = self._build(frame), shape
        self._graph.push(frame)
        return self._graph.pull()

    def _build(self, frame: Any) -> Any:
        graph = av.filter.Graph()
        nodes = [
            graph.add_buffer(
                width=frame.width,
                height=frame.height,
                format=frame.format,
                time_base=frame.time_base or Fraction(1, 90_000),
            )
        ]
        for name, args in self.chain:
            nodes.append(graph.add(name, args or None))
        nodes.append(graph.add("buffersink"))
        graph.link_nodes(*nodes)
        graph.configure()
        return graph


def upright_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """The size of a ``width`` x ``height`` picture once turned by ``rotation`` degrees."""
    return (height, width) if rotation % 180 == 90 else (width, height)
