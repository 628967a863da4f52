"""The AWS KMS provider against moto's KMS over real HTTP (aiobotocore), and its error mapping."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from pipeline.crypto.envelope import decrypt_bytes, encrypt_bytes
from pipeline.crypto.keys import (
    KeyEncryptionKey,
    KeyProviderError,
    KeyProviderUnavailable,
    KeyRing,
    LocalKEK,
    UnknownKeyError,
    UnwrapError,
    rewrap,
)
from pipeline.crypto.kms import KmsClient, KmsKEK
from tests.fixtures.moto_server import free_port

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture
def kms_key(moto_endpoint: str) -> tuple[str, str]:
    """A fresh KMS key in moto: (ARN, key id)."""
    meta = boto3.client("kms", endpoint_url=moto_endpoint, **CREDENTIALS).create_key(
        Description=f"test-{uuid.uuid4().hex[:8]}"
    )["KeyMetadata"]
    return meta["Arn"], meta["KeyId"]


@pytest.fixture
async def kms_client(moto_endpoint: str) -> AsyncIterator[KmsClient]:
    async with get_session().create_client("kms", endpoint_url=moto_endpoint, **CREDENTIALS) as client:
        yield client


async def test_generate_data_key_and_unwrap(kms_key: tuple[str, str], kms_client: KmsClient) -> None:
    kek: KeyEncryptionKey = KmsKEK(kms_key[0], kms_client)
    data_key, wrapped = await kek.generate_data_key({"asset": "upload-1"})
    assert len(data_key) == 32 and data_key not in wrapped.blob
    assert (wrapped.kek_id, wrapped.algorithm) == (kms_key[0], "aws-kms")
    assert await kek.unwrap(wrapped, context={"asset": "upload-1"}) == data_key
    blob = encrypt_bytes(b"poster bytes", data_key, "upload-1/poster.jpg")
    key_again = await kek.unwrap(type(wrapped).from_json(wrapped.to_json()), context={"asset": "upload-1"})
    assert decrypt_bytes(blob, key_again, "upload-1/poster.jpg") == b"poster bytes"


async def test_wrap_existing_key(kms_key: tuple[str, str], kms_client: KmsClient) -> None:
    kek = KmsKEK(kms_key[0], kms_client)
    data_key = os.urandom(32)
    wrapped = await kek.wrap(data_key, context={"asset": "a"})
    assert await kek.unwrap(wrapped, context={"asset": "a"}) == data_key


async def test_context_and_blob_are_authenticated(kms_key: tuple[str, str], kms_client: KmsClient) -> None:
    kek = KmsKEK(kms_key[0], kms_client)
    _, wrapped = await kek.generate_data_key({"asset": "a"})
    for ctx in ({"asset": "b"}, {}):
        with pytest.raises(UnwrapError):
            await kek.unwrap(wrapped, context=ctx)
    with pytest.raises(UnknownKeyError):  # wrapped under another KEK: not even sent to KMS
        await KmsKEK("arn:aws:kms:us-east-1:123456789012:key/other", kms_client).unwrap(wrapped, context={"asset": "a"})
    tampered = type(wrapped)(wrapped.kek_id, wrapped.algorithm, wrapped.blob[:-1] + bytes([wrapped.blob[-1] ^ 1]))
    with pytest.raises(UnwrapError):
        await kek.unwrap(tampered, context={"asset": "a"})


async def test_missing_key_is_permanent(kms_client: KmsClient) -> None:
    # (moto does not refuse a disabled key; DisabledException is covered by the translation table)
    missing = KmsKEK(f"arn:aws:kms:us-east-1:123456789012:key/{uuid.uuid4()}", kms_client)
    with pytest.raises(KeyProviderError) as info:
        await missing.generate_data_key({})
    assert not info.value.transient and "NotFoundException" in str(info.value)
    assert not isinstance(info.value, KeyProviderUnavailable)


async def test_unreachable_kms_is_transient() -> None:
    config = AioConfig(retries={"max_attempts": 1}, connect_timeout=1)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with get_session().create_client("kms", endpoint_url=endpoint, config=config, **CREDENTIALS) as client:
        with pytest.raises(KeyProviderUnavailable) as info:
            await KmsKEK("alias/tusd", client).generate_data_key({})
    assert info.value.transient


class FailingKms:
    def __init__(self, code: str, status: int) -> None:
        self.error = ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    async def generate_data_key(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error

    async def encrypt(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error

    async def decrypt(self, **kwargs: Any) -> dict[str, Any]:
        raise self.error


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, KeyProviderUnavailable),
        ("KMSInternalException", 500, KeyProviderUnavailable),
        ("KeyUnavailableException", 500, KeyProviderUnavailable),
        ("Whatever", 503, KeyProviderUnavailable),
        ("InvalidCiphertextException", 400, UnwrapError),
        ("IncorrectKeyException", 400, UnwrapError),
        ("AccessDeniedException", 400, KeyProviderError),
        ("DisabledException", 400, KeyProviderError),
    ],
)
async def test_error_translation(code: str, status: int, expected: type[KeyProviderError]) -> None:
    kek = KmsKEK("k", FailingKms(code, status))
    with pytest.raises(KeyProviderError) as info:
        await kek.generate_data_key({})
    assert type(info.value) is expected
    assert info.value.transient == (expected is KeyProviderUnavailable)
    assert isinstance(info.value.__cause__, ClientError)


async def test_rotate_from_local_kek_to_kms(kms_key: tuple[str, str], kms_client: KmsClient) -> None:
    local, kms = LocalKEK("local-1", os.urandom(32)), KmsKEK(kms_key[0], kms_client)
    data_key, wrapped = await local.generate_data_key({"asset": "a"})
    rotated = await rewrap(wrapped, KeyRing([local, kms]), kms, {"asset": "a"})
    assert rotated.kek_id == kms_key[0]
    assert await KeyRing([kms]).unwrap(rotated, context={"asset": "a"}) == data_key
