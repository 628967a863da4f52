"""tus 1.0 names and values. Pure: imported by every layer, imports nothing."""

from __future__ import annotations

TUS_RESUMABLE = "1.0.0"
TUS_VERSIONS = ("1.0.0",)
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

# Header names, as written on the wire (aiohttp's CIMultiDict makes lookups case-insensitive).
H_TUS_RESUMABLE = "Tus-Resumable"
H_TUS_VERSION = "Tus-Version"
H_TUS_EXTENSION = "Tus-Extension"
H_TUS_MAX_SIZE = "Tus-Max-Size"
H_TUS_CHECKSUM_ALGORITHM = "Tus-Checksum-Algorithm"
H_UPLOAD_OFFSET = "Upload-Offset"
H_UPLOAD_LENGTH = "Upload-Length"
H_UPLOAD_DEFER_LENGTH = "Upload-Defer-Length"
H_UPLOAD_METADATA = "Upload-Metadata"
H_UPLOAD_EXPIRES = "Upload-Expires"
H_UPLOAD_CHECKSUM = "Upload-Checksum"
H_UPLOAD_CONCAT = "Upload-Concat"
H_METHOD_OVERRIDE = "X-HTTP-Method-Override"

# Advertised in this order. `checksum-trailer` is deliberately absent: aiohttp's
# chunked parser discards trailers, so they never reach a handler.
EXT_CREATION = "creation"
EXT_CREATION_WITH_UPLOAD = "creation-with-upload"
EXT_CREATION_DEFER_LENGTH = "creation-defer-length"
EXT_TERMINATION = "termination"
EXT_CHECKSUM = "checksum"
EXT_EXPIRATION = "expiration"
EXT_CONCATENATION = "concatenation"
ALL_EXTENSIONS = (
    EXT_CREATION,
    EXT_CREATION_WITH_UPLOAD,
    EXT_CREATION_DEFER_LENGTH,
    EXT_TERMINATION,
    EXT_CHECKSUM,
    EXT_EXPIRATION,
    EXT_CONCATENATION,
)

# S3 caps an object at 5 TiB; no store here accepts more than that.
MAX_OBJECT_SIZE = 5 * 1024**4
