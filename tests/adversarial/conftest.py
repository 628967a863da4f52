"""``deployment``: each adversarial test that takes it runs on the file store and on the S3 store
(moto and Redis are only started for the S3 case)."""

from __future__ import annotations

import pytest

from .deployments import Deployment, file_deployment, s3_deployment


@pytest.fixture(params=["file", "s3"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    if request.param == "file":
        return file_deployment()
    endpoint: str = request.getfixturevalue("moto_endpoint")
    bucket: str = request.getfixturevalue("s3_bucket")
    redis_url: str = request.getfixturevalue("redis_url")
    return s3_deployment(endpoint, bucket, redis_url)
