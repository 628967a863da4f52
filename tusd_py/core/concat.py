"""The partial uploads a final upload lists (tus ``concatenation``), checked before anything is created.

A partial must exist, belong to the caller (another owner's is as absent as a missing one),
be a partial and be finished; the list is checked for size and repeats before any lookup, and
the total size as it grows.
"""

from __future__ import annotations

from ..protocol.errors import InvalidConcat, TooLarge, UploadNotFinished, UploadNotFound
from .ownership import owned_upload
from .ports import Store, Upload


def check_partial_ids(partial_ids: list[str], max_partials: int) -> None:
    """Before any lookup: a final upload listing one partial many times, or thousands of
    partials, would turn a small upload into a huge one (or a long copy) for free."""
    if len(partial_ids) > max_partials:
        raise InvalidConcat(f"a final upload may list at most {max_partials} partial uploads, not {len(partial_ids)}")
    seen: set[str] = set()
    for pid in partial_ids:
        if pid in seen:
            raise InvalidConcat(f"partial upload {pid} is listed more than once")
        seen.add(pid)


async def gather_partials(
    store: Store, partial_ids: list[str], *, owner: str, max_size: int, max_partials: int
) -> tuple[list[Upload], int]:
    """The partial uploads, in order, and their total size."""
    check_partial_ids(partial_ids, max_partials)
    partials: list[Upload] = []
    total = 0
    for pid in partial_ids:
        try:
            partial, pinfo = await owned_upload(store, pid, owner)
        except UploadNotFound:
            raise UploadNotFound(f"partial upload {pid} does not exist") from None
        if not pinfo.is_partial:
            raise InvalidConcat(f"upload {pid} is not a partial upload")
        if not pinfo.is_complete:
            raise UploadNotFinished(f"partial upload {pid} is not finished")
        total += pinfo.size or 0
        if total > max_size:  # checked as it grows: no need to look at the rest
            raise TooLarge(f"the concatenated size exceeds the maximum size {max_size}")
        partials.append(partial)
    return partials, total
