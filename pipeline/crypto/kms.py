"""AWS KMS as the key-encryption key: data keys come from GenerateDataKey (AES_256) and are
unwrapped by Decrypt; the master key never leaves KMS. The wrapping context is KMS's
EncryptionContext, so it is authenticated and logged in CloudTrail.

Imported on its own (``from pipeline.crypto.kms import KmsKEK``): the rest of
``pipeline.crypto`` does not need botocore. Botocore errors are translated here, and only
here (after ``stores/s3/client.map_s3_errors``)::

    InvalidCiphertextException, IncorrectKeyException            -> UnwrapError
    throttling, KMSInternalException, DependencyTimeoutException,
    KeyUnavailableException, 5xx, connection errors, timeouts     -> KeyProviderUnavailable (retry)
    anything else (NotFound, Disabled, AccessDenied, credentials) -> KeyProviderError (permanent)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from .keys import KeyProviderError, KeyProviderUnavailable, UnknownKeyError, UnwrapError, WrappedKey

KMS_ALGORITHM = "aws-kms"
UNWRAP_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


class KmsClient(Protocol):
    """Only the KMS operations the provider uses; aiobotocore's client fits."""

    async def generate_data_key(self, **kwargs: Any) -> dict[str, Any]: ...
    async def encrypt(self, **kwargs: Any) -> dict[str, Any]: ...
    async def decrypt(self, **kwargs: Any) -> dict[str, Any]: ...


def open_kms_client(*, region: str = "us-east-1", endpoint_url: str = "") -> AbstractAsyncContextManager[KmsClient]:
    """An aiobotocore KMS client; credentials come from the usual AWS_* variables."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    config = AioConfig(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
    client: AbstractAsyncContextManager[KmsClient] = get_session().create_client(
        "kms", endpoint_url=endpoint_url or None, region_name=region, config=config
    )
    return client


@asynccontextmanager
async def map_kms_errors(operation: str, key_id: str) -> AsyncIterator[None]:
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in UNWRAP_CODES:
            raise UnwrapError(f"KMS {operation} under {key_id}: {code} (wrong key or context, or tampered)") from exc
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            raise KeyProviderUnavailable(f"KMS {operation} under {key_id}: {code or status}; retry shortly") from exc
        raise KeyProviderError(f"KMS {operation} under {key_id} failed: {code or status}") from exc
    except (BotoConnectionError, HTTPClientError, TimeoutError, OSError) as exc:
        raise KeyProviderUnavailable(f"KMS {operation}: unreachable ({exc.__class__.__name__})") from exc
    except BotoCoreError as exc:  # no credentials, bad parameters...
        raise KeyProviderError(f"KMS {operation} under {key_id} failed: {exc}") from exc


class KmsKEK:
    """``key_id`` is the KMS key (prefer its ARN: an alias that is later moved to another key
    would make Decrypt fail). It is recorded in every wrapped key and checked on unwrap."""

    def __init__(self, key_id: str, client: KmsClient) -> None:
        self._id = key_id
        self._client = client

    @property
    def key_id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"KmsKEK({self._id!r})"

    async def wrap(self, plaintext_key: bytes, *, context: dict[str, str]) -> WrappedKey:
        async with map_kms_errors("Encrypt", self._id):
            reply = await self._client.encrypt(KeyId=self._id, Plaintext=plaintext_key, EncryptionContext=context)
        return WrappedKey(self._id, KMS_ALGORITHM, bytes(reply["CiphertextBlob"]))

    async def unwrap(self, wrapped: WrappedKey, *, context: dict[str, str]) -> bytes:
        if wrapped.kek_id != self._id:
            raise UnknownKeyError(f"key wrapped under KEK {wrapped.kek_id!r}, this is {self._id!r}")
        if wrapped.algorithm != KMS_ALGORITHM:
            raise UnwrapError(f"not a {KMS_ALGORITHM} wrapped key")
        async with map_kms_errors("Decrypt", self._id):
            reply = await self._client.decrypt(CiphertextBlob=wrapped.blob, KeyId=self._id, EncryptionContext=context)
        return bytes(reply["Plaintext"])

    async def generate_data_key(self, context: dict[str, str]) -> tuple[bytes, WrappedKey]:
        async with map_kms_errors("GenerateDataKey", self._id):
            reply = await self._client.generate_data_key(KeyId=self._id, KeySpec="AES_256", EncryptionContext=context)
        return bytes(reply["Plaintext"]), WrappedKey(self._id, KMS_ALGORITHM, bytes(reply["CiphertextBlob"]))


if TYPE_CHECKING:
    from .keys import KeyEncryptionKey

    _kms: type[KeyEncryptionKey] = KmsKEK
