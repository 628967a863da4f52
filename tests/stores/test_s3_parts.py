"""Part sizing and the part pipeline, without S3 (tusd's calcpartsize_test.go)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random

import pytest

from tusd_py.protocol.errors import StorageUnavailable, UploadNotFound
from tusd_py.state.records import PartRecord
from tusd_py.stores.s3.parts import (
    GROWING,
    S3_MAX_OBJECT_SIZE,
    S3_MAX_PART_SIZE,
    S3_MIN_PART_SIZE,
    MiB,
    PartBuffer,
    PartFailed,
    PartPipeline,
    PartPolicy,
    PartStream,
)

AWS = PartPolicy()


@pytest.mark.parametrize("length", [0, 1, 5 * MiB, 100 * MiB, 160 * 1024 * MiB, 1024**4, S3_MAX_OBJECT_SIZE])
def test_known_length_fits_half_the_part_budget(length: int) -> None:
    size = AWS.part_size(length)
    assert S3_MIN_PART_SIZE <= size <= S3_MAX_PART_SIZE
    assert size >= AWS.preferred
    assert math.ceil(length / size) <= AWS.max_parts // 2  # 2x headroom for interruptions


def test_max_upload_size_is_the_s3_object_limit() -> None:
    assert AWS.max_upload_size == S3_MAX_OBJECT_SIZE
    assert PartPolicy(max_parts=1000, preferred=5 * MiB).max_upload_size == 1000 * S3_MAX_PART_SIZE
    assert PartPolicy(max_parts=4, min_size=1, preferred=1, max_size=10).max_upload_size == 40


@pytest.mark.parametrize("preferred", [S3_MIN_PART_SIZE, 16 * MiB, 64 * MiB])
def test_deferred_length_grows_parts_and_reaches_5_tib_in_a_third_of_the_budget(preferred: int) -> None:
    policy = PartPolicy(preferred=preferred)
    assert policy.part_size(None) == GROWING
    assert policy.size_at(GROWING, 0) == preferred
    assert policy.size_at(GROWING, 1024**4) > preferred  # grows with the offset
    assert policy.size_at(GROWING, S3_MAX_OBJECT_SIZE) == S3_MAX_PART_SIZE
    assert policy.parts_needed(GROWING, 0, S3_MAX_OBJECT_SIZE) <= policy.max_parts // 3


def test_uniform_deferred_uses_a_fixed_size_planned_for_the_limit() -> None:
    policy = PartPolicy(uniform=True, deferred_limit=1024**4)
    size = policy.part_size(None)
    assert size != GROWING and math.ceil(1024**4 / size) <= policy.max_parts // 2
    assert policy.size_at(size, 123 * MiB) == size


def test_short_parts_need_the_minimum_size_and_spare_budget() -> None:
    policy = PartPolicy(preferred=10, min_size=4, max_size=100, max_parts=10)
    part = policy.part_size(40)  # ceil(2 * 40 / 10) = 8 -> preferred 10
    assert part == 10
    assert not policy.may_cut_short(part_size=part, length=40, parts_used=0, start=0, size=3)  # below min
    assert policy.may_cut_short(part_size=part, length=40, parts_used=0, start=0, size=4)
    # 8 parts used, 4 bytes at 0..4: the remaining 36 bytes need 4 full parts -> 8+1+4 > 10
    assert not policy.may_cut_short(part_size=part, length=40, parts_used=8, start=0, size=4)
    assert not PartPolicy(preferred=10, min_size=4, max_size=100, uniform=True).may_cut_short(
        part_size=10, length=40, parts_used=0, start=0, size=9
    )


def test_many_interruptions_never_exceed_the_part_budget() -> None:
    """The store's cutting rule, replayed for 2,000 random requests on a large upload."""
    policy = PartPolicy(preferred=1000, min_size=100, max_size=100_000, max_parts=50)
    length = 40_000
    part = policy.part_size(length)
    rng = random.Random(7)
    parts, tail, start = 0, 0, 0
    while start + tail < length:
        buffered = tail + min(rng.randint(1, 300), length - start - tail)
        while buffered >= part:
            parts, start, buffered = parts + 1, start + part, buffered - part
        final = start + buffered == length
        if buffered and (
            final or policy.may_cut_short(part_size=part, length=length, parts_used=parts, start=start, size=buffered)
        ):
            parts, start, buffered = parts + 1, start + buffered, 0
        tail = buffered
    assert start == length
    assert parts <= policy.max_parts


def test_policy_rejects_inconsistent_sizes() -> None:
    with pytest.raises(ValueError):
        PartPolicy(preferred=1 * MiB)  # below the 5 MiB minimum
    with pytest.raises(ValueError):
        PartPolicy(max_parts=1)


# -- pipeline -------------------------------------------------------------------------------------
class FakeS3:
    """Sends parts with controllable delays and failures; records concurrency."""

    def __init__(self, *, fail: dict[int, int] | None = None, delays: dict[int, float] | None = None) -> None:
        self.fail = dict(fail or {})  # part number -> failures before it succeeds
        self.delays = delays or {}
        self.calls: list[int] = []
        self.running = 0
        self.peak = 0

    async def send(self, number: int, data: bytearray) -> str:
        self.calls.append(number)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delays.get(number, 0.001))
            if self.fail.get(number, 0) > 0:
                self.fail[number] -= 1
                raise StorageUnavailable("injected")
            return f"etag-{number}-{bytes(data[:1]).hex()}"
        finally:
            self.running -= 1


def make_pipeline(s3: FakeS3, committed: list[list[PartRecord]], **kwargs: object) -> PartPipeline:
    async def commit(parts: list[PartRecord]) -> None:
        committed.append(parts)

    options: dict[str, object] = {"first_number": 1, "in_flight": 3, "slots": asyncio.Semaphore(10)}
    options.update(kwargs)
    return PartPipeline(s3.send, commit, **options)  # type: ignore[arg-type]


async def test_parts_are_committed_in_order_even_when_they_finish_out_of_order() -> None:
    s3 = FakeS3(delays={1: 0.05, 2: 0.001, 3: 0.02})
    committed: list[list[PartRecord]] = []
    pipeline = make_pipeline(s3, committed)
    for i in range(6):
        await pipeline.submit(bytearray([i]) * 10)
    await pipeline.close()
    numbers = [p.number for batch in committed for p in batch]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert [p.etag for batch in committed for p in batch][1] == "etag-2-01"
    assert s3.peak <= 3


async def test_a_part_that_keeps_failing_commits_only_the_run_before_it() -> None:
    s3 = FakeS3(fail={2: 99}, delays={3: 0.001, 1: 0.001})
    committed: list[list[PartRecord]] = []
    pipeline = make_pipeline(s3, committed, in_flight=4)
    with pytest.raises(PartFailed):
        for i in range(8):
            await pipeline.submit(bytearray([i]) * 10)
        await pipeline.close()
    with pytest.raises(PartFailed):
        await pipeline.close()
    assert [p.number for batch in committed for p in batch] == [1]
    assert s3.calls.count(2) == 1  # retries are botocore's, below the sender (test_s3_store.py)


async def test_a_failed_part_carries_its_error() -> None:
    async def send(number: int, data: bytearray) -> str:
        raise UploadNotFound("multipart upload aborted")

    async def commit(parts: list[PartRecord]) -> None:
        raise AssertionError("nothing may be committed")

    pipeline = PartPipeline(send, commit, first_number=1, in_flight=2, slots=asyncio.Semaphore(1))
    await pipeline.submit(bytearray(b"x"))
    with pytest.raises(PartFailed) as caught:
        await pipeline.close()
    assert isinstance(caught.value.__cause__, UploadNotFound)


async def test_the_process_wide_semaphore_bounds_parts_across_pipelines() -> None:
    s3 = FakeS3(delays=dict.fromkeys(range(1, 20), 0.01))
    slots = asyncio.Semaphore(2)
    committed: list[list[PartRecord]] = []
    pipelines = [make_pipeline(s3, committed, slots=slots, in_flight=4) for _ in range(3)]

    async def run(pipeline: PartPipeline) -> None:
        for i in range(5):
            await pipeline.submit(bytearray([i]))
        await pipeline.close()

    await asyncio.gather(*(run(p) for p in pipelines))
    assert s3.peak == 2
    assert sum(len(batch) for batch in committed) == 15


def _part(chunks: list[bytes]) -> PartBuffer:
    part = PartBuffer()
    for chunk in [*chunks, b""]:  # an empty chunk adds no view
        part.append(memoryview(chunk))
    return part


async def test_part_stream_reads_seeks_and_iterates_across_chunk_boundaries() -> None:
    rng = random.Random(7)
    chunks = [rng.randbytes(rng.randint(1, 300)) for _ in range(40)]
    data = b"".join(chunks)
    part = _part(chunks)
    assert (len(part), bytes(part), len(part.views)) == (len(data), data, 40)
    stream = PartStream(part)
    for _ in range(200):  # botocore reads in pieces, seeks back for the payload hash and retries
        start = rng.randint(0, len(data))
        assert stream.seek(start) == start and len(stream) == len(data) - start
        size = rng.randint(0, 700)
        assert stream.read(size) == data[start : start + size]
        assert stream.tell() == min(len(data), start + size)
    assert stream.seek(-10, 2) == len(data) - 10 and stream.read() == data[-10:] and stream.read(5) == b""
    assert stream.seek(10**9) == len(data) and stream.seek(-(10**9), 1) == 0  # clamped, never past the ends
    stream.seek(123)
    assert b"".join([bytes(v) async for v in stream]) == data[123:]  # what aiohttp sends, from the position
    assert len(stream) == 0 and stream.read() == b""
    stream.seek(0)  # a retry of the same part sends every byte again
    assert b"".join([bytes(v) async for v in stream]) == data
    assert PartStream(bytearray(b"abc")).read() == b"abc"


def test_the_deferred_limit_is_tusd_max_size_and_0_means_the_stores_ceiling() -> None:
    from tusd_py.settings import Settings
    from tusd_py.stores.s3 import S3Store

    def policy(**values: object) -> PartPolicy:
        settings = Settings.from_flat(store="s3", s3_bucket="b", s3_uniform_parts=True, **values)
        return S3Store.from_settings(settings).config.policy

    default, ceiling = policy(), policy(max_size=0)
    assert default.deferred_limit == 10 * 1024**3  # planned for the 10 GiB default, not 5 TiB
    assert ceiling.deferred_limit == 0
    planned_for_ceiling = dataclasses.replace(ceiling, deferred_limit=ceiling.max_upload_size)
    assert ceiling.part_size(None) == planned_for_ceiling.part_size(None)
