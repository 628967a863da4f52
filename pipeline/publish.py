"""THE publish step: the only code that writes processing outputs to the asset store.

An attempt writes every file under its own prefix ``media/<upload_id>/<attempt>/``; nothing
there is visible until one compare-and-set switches the record to ``ready`` with that
``output_prefix``. So a killed or duplicated job never exposes a half-written asset:

* the first complete attempt to switch wins; a later one finds ``ready`` and deletes its prefix;
* after the switch, the winner deletes every other attempt's prefix (killed runs' leftovers).

Every output passes through ``Publisher.transform`` on its way out, and is encrypted there
(``protect.py``; docs/encryption.md): a fresh data key per attempt, wrapped by the KEK and
written into the record by the same switch that publishes the outputs. The kept original and
an asset manifest (the probe and the ladder) are published the same way. Encryption runs in
a worker thread, file to file, so the event loop stays free and memory stays flat.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from .assets import AssetStore
from .contract import MEDIA_PREFIX, MediaRecord, MediaState, RenditionInfo, output_prefix
from .crypto.envelope import DEFAULT_FRAME_SIZE
from .crypto.keys import KeyEncryptionKey
from .protect import AssetKeys, SealPlan, asset_context, seal_output
from .records import MediaRecords, update

ORIGINAL = "original"  # the kept original's name in the attempt folder
MANIFEST = "manifest.json"

log = structlog.get_logger("pipeline.publish")


class Publisher:
    def __init__(
        self,
        assets: AssetStore,
        records: MediaRecords,
        keys: KeyEncryptionKey | None,
        *,
        frame_size: int = DEFAULT_FRAME_SIZE,
    ) -> None:
        self.assets = assets
        self.records = records
        self.keys = keys  # None only until a KMS key ring is opened (see context.Deps.use_keys)
        self.frame_size = frame_size

    async def transform(self, relative: str, path: Path, sealed_dir: Path, keys: AssetKeys, plan: SealPlan) -> Path:
        """The hook every output goes through before it is stored: its encrypted copy."""
        dst = sealed_dir / relative
        await asyncio.to_thread(seal_output, keys, relative, path, dst, plan, frame_size=self.frame_size)
        return dst

    async def _upload_tree(
        self, prefix: str, files: dict[str, Path], keys: AssetKeys, plan: SealPlan, scratch: Path
    ) -> int:
        # Playlists last: a reader following them finds every segment already stored.
        order = sorted(files, key=lambda rel: (rel.endswith(".m3u8"), rel))
        with tempfile.TemporaryDirectory(prefix="sealed-", dir=scratch) as sealed:
            for relative in order:
                sealed_path = await self.transform(relative, files[relative], Path(sealed), keys, plan)
                await self.assets.put_file(prefix + relative, sealed_path)
                sealed_path.unlink()  # one encrypted copy on disk at a time
        return len(order)

    async def publish(
        self, claimed: MediaRecord, out_dir: Path, outcome: dict[str, Any], source: Path | None = None
    ) -> MediaRecord:
        """Encrypt ``out_dir`` (and the ``source`` as the kept original) under the attempt's
        prefix and switch the record to it. Returns the record that is ready afterwards (ours,
        or an earlier winner's)."""
        if self.keys is None:
            raise RuntimeError("the publisher has no key-encryption key")
        upload_id, attempt = claimed.upload_id, claimed.attempt
        prefix = output_prefix(upload_id, attempt)
        hls, thumbs, probe = outcome["hls"], outcome["thumbs"], outcome["probe"]
        renditions = [_rendition(r, out_dir) for r in hls["renditions"]]
        files = {p.relative_to(out_dir).as_posix(): p for p in _files(out_dir)}
        manifest = out_dir.parent / f".{MANIFEST}"  # outside out_dir: it is not a transcoder output
        manifest.write_text(json.dumps(outcome, default=str))
        files[MANIFEST] = manifest
        if source is not None:
            files[ORIGINAL] = source
        data_key, wrapped = await self.keys.generate_data_key(asset_context(upload_id))
        keys = AssetKeys.from_data_key(upload_id, data_key)
        plan = await asyncio.to_thread(SealPlan.for_outputs, out_dir, [r.playlist for r in renditions])
        count = await self._upload_tree(prefix, files, keys, plan, out_dir.parent)
        ready: dict[str, Any] = {
            "state": MediaState.READY,
            "progress": 100.0,
            "reason": "",
            "kind": str(probe.get("kind", "")),
            "duration": float(hls.get("duration") or probe.get("duration") or 0.0),
            "master_playlist": _relative(hls["master_playlist"], out_dir),
            "renditions": renditions,
            "poster": _relative(thumbs.get("poster") or "", out_dir),
            "thumbnails": [_relative(t, out_dir) for t in thumbs.get("thumbnails", [])],
            "original": ORIGINAL if source is not None else "",
            "manifest": MANIFEST,
            "data_key": wrapped.to_json(),
            "attempt": attempt,
            "output_prefix": prefix,
        }
        won = await update(self.records, upload_id, _switch(ready))
        current = won or await self.records.get(upload_id)
        assert current is not None and current.state is MediaState.READY
        if won is None:  # a duplicate finished first: ours was never visible, drop it
            await self.assets.delete_prefix(prefix)
            log.info("publish_lost", upload_id=upload_id, attempt=attempt, winner=current.attempt)
            return current
        log.info("published", upload_id=upload_id, attempt=attempt, files=count, prefix=prefix)
        await self.clean_other_attempts(current)
        return current

    async def clean_other_attempts(self, record: MediaRecord) -> int:
        """Delete every attempt folder of the upload except the published one."""
        base = f"{MEDIA_PREFIX}{record.upload_id}/"
        attempts = {
            key[len(base) :].split("/", 1)[0] for key in await self.assets.list(base) if "/" in key[len(base) :]
        }
        stale = sorted(a for a in attempts if output_prefix(record.upload_id, a) != record.output_prefix)
        for attempt in stale:
            await self.assets.delete_prefix(output_prefix(record.upload_id, attempt))
        if stale:
            log.info("stale_attempts_removed", upload_id=record.upload_id, attempts=stale)
        return len(stale)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _switch(ready: dict[str, Any]) -> Callable[[MediaRecord | None], MediaRecord | None]:
    def change(current: MediaRecord | None) -> MediaRecord | None:
        if current is None or current.state is MediaState.READY:
            return None  # already published (by a duplicate): keep the first
        return current.evolve(**ready)

    return change


def _relative(value: Any, out_dir: Path) -> str:
    """An output named by the core (relative, or an absolute path inside ``out_dir``) as a
    path relative to the attempt's prefix."""
    path = Path(str(value))
    if not str(value) or not path.is_absolute():
        return path.as_posix() if str(value) else ""
    return path.resolve().relative_to(out_dir.resolve()).as_posix()


def _rendition(raw: Any, out_dir: Path) -> RenditionInfo:
    data = dict(raw) if isinstance(raw, dict) else dict(vars(raw))
    playlist = Path(_relative(data["playlist"], out_dir))
    return RenditionInfo(
        name=str(data.get("name", playlist.parent.name)),
        width=int(data.get("width") or 0),
        height=int(data.get("height") or 0),
        bandwidth=int(data.get("bandwidth") or 0),
        codecs=str(data.get("codecs") or ""),
        playlist=playlist.as_posix(),
    )
