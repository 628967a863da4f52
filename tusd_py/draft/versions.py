"""What each interop version of draft-ietf-httpbis-resumable-upload means, as one table.

Every difference between the interop versions this server speaks lives in ``VERSIONS``; the
handlers read the row of the request's ``Upload-Draft-Interop-Version`` and never compare
version numbers themselves. Sources: the drafts at their tags in httpwg/http-extensions
(draft-ietf-httpbis-resumable-upload-01 to -11) and tusd's handler for versions 3 to 6.

=======  ============  ==================  ==============  =============  ===============
interop  drafts        completeness        PATCH body      incomplete     Upload-Limit,
                       header              Content-Type    append answer  problem types
=======  ============  ==================  ==============  =============  ===============
3        -01           Upload-Incomplete   any             201            none
4        -02           Upload-Complete     any             201            none
5        -03           Upload-Complete     any             201            none
6        -04, -05      Upload-Complete     partial-upload  201            ``expires``; 2
7        -06 to -08    Upload-Complete     partial-upload  204            ``max-age``; 3
8        -09 to -11    Upload-Complete     partial-upload  204            ``max-age``; 3
=======  ============  ==================  ==============  =============  ===============

Until -05 (interop 6) a HEAD or DELETE carrying the upload's state headers is a 400; from -06
the drafts drop that rule. Up to -05 an append that omits the completeness header completes
the upload (the header "MUST be set to false if the end of the request content is not the end
of the upload"); from -06 the header is required. From -10 (interop 8) an OPTIONS answer names
``application/partial-upload`` in ``Accept-Patch``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..protocol.errors import UnsupportedInteropVersion
from .fields import parse_integer

H_INTEROP_VERSION = "Upload-Draft-Interop-Version"
H_UPLOAD_COMPLETE = "Upload-Complete"
H_UPLOAD_INCOMPLETE = "Upload-Incomplete"
H_UPLOAD_OFFSET = "Upload-Offset"
H_UPLOAD_LENGTH = "Upload-Length"
H_UPLOAD_LIMIT = "Upload-Limit"
PARTIAL_UPLOAD = "application/partial-upload"

# The problem types (RFC 9457) the drafts define, by the name after '#'.
MISMATCHING_OFFSET = "mismatching-upload-offset"
COMPLETED_UPLOAD = "completed-upload"
INCONSISTENT_LENGTH = "inconsistent-upload-length"


@dataclass(frozen=True)
class InteropVersion:
    number: int
    drafts: str
    complete_header: str  # Upload-Complete, or Upload-Incomplete (interop 3: the inverse)
    patch_media_type: str | None  # what an append's Content-Type must be; None: anything
    incomplete_append_status: int  # an append that leaves the upload incomplete
    age_key: str | None  # the Upload-Limit key of the remaining lifetime; None: no Upload-Limit
    problems: frozenset[str]  # the problem types this version defines
    refused_on_head: tuple[str, ...]  # request headers a HEAD must not carry (400)
    refused_on_delete: tuple[str, ...]
    refused_on_creation: tuple[str, ...]
    append_needs_complete: bool  # an append without the completeness header is a 400
    accept_patch: bool  # OPTIONS answers Accept-Patch: application/partial-upload

    def complete_value(self, complete: bool) -> bool:
        """The Boolean to send in ``complete_header`` for an upload that is (not) complete."""
        return not complete if self.complete_header == H_UPLOAD_INCOMPLETE else complete

    def defines(self, problem: str) -> bool:
        return problem in self.problems


_OLD = (H_UPLOAD_OFFSET, H_UPLOAD_COMPLETE)
_V3_OLD = (H_UPLOAD_OFFSET, H_UPLOAD_INCOMPLETE)

# Each row is the next one minus what that draft's changelog added: read upwards, it is the
# drafts' history (-10 added Accept-Patch, -06 renamed expires, -04 added partial-upload...).
_V8 = InteropVersion(
    number=8,
    drafts="-09 to -11",
    complete_header=H_UPLOAD_COMPLETE,
    patch_media_type=PARTIAL_UPLOAD,
    incomplete_append_status=204,
    age_key="max-age",
    problems=frozenset({MISMATCHING_OFFSET, COMPLETED_UPLOAD, INCONSISTENT_LENGTH}),
    refused_on_head=(),
    refused_on_delete=(),
    refused_on_creation=(),
    append_needs_complete=True,
    accept_patch=True,
)
_V7 = replace(_V8, number=7, drafts="-06 to -08", accept_patch=False)
_V6 = replace(
    _V7,
    number=6,
    drafts="-04, -05",
    incomplete_append_status=201,
    age_key="expires",
    problems=frozenset({MISMATCHING_OFFSET, COMPLETED_UPLOAD}),
    refused_on_head=(*_OLD, H_UPLOAD_LENGTH),
    refused_on_delete=_OLD,
    refused_on_creation=(H_UPLOAD_OFFSET,),
    append_needs_complete=False,
)
_V5 = replace(
    _V6, number=5, drafts="-03", patch_media_type=None, age_key=None, problems=frozenset(), refused_on_head=_OLD
)
_V4 = replace(_V5, number=4, drafts="-02")
_V3 = replace(
    _V4, number=3, drafts="-01", complete_header=H_UPLOAD_INCOMPLETE, refused_on_head=_V3_OLD, refused_on_delete=_V3_OLD
)
VERSIONS: dict[int, InteropVersion] = {v.number: v for v in (_V3, _V4, _V5, _V6, _V7, _V8)}


def interop_version(value: str) -> InteropVersion:
    """The row for a request's ``Upload-Draft-Interop-Version`` (an Integer)."""
    number = parse_integer(H_INTEROP_VERSION, value)
    version = VERSIONS.get(number)
    if version is None:
        raise UnsupportedInteropVersion(
            f"{H_INTEROP_VERSION} {number} is not supported; this server speaks {min(VERSIONS)} to {max(VERSIONS)}"
        )
    return version
