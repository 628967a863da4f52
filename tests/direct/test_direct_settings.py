"""The direct-upload settings that cannot work are refused at start: one line naming the
variable, status 2 (as tests/test_settings_refused.py does for the rest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from tusd_py.settings import Settings, describe_config_error

TUSD_PY = Path(sys.executable).parent / "tusd-py"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"TUSD_DIRECT_UPLOADS": "true"}, "TUSD_DIRECT_UPLOADS"),  # the embedded file store
        ({"TUSD_DIRECT_SSE_KMS_KEY_ID": "alias/uploads"}, "TUSD_DIRECT_SSE_KMS_KEY_ID"),  # without aws:kms
        ({"TUSD_DIRECT_SSE": "rot13"}, "TUSD_DIRECT_SSE"),
        ({"TUSD_DIRECT_URL_TTL": "86400"}, "TUSD_DIRECT_URL_TTL"),  # part URLs live minutes, not a day
    ],
)
def test_serve_refuses_with_one_line_and_status_2(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TUSD_")}
    full = {**clean, "TUSD_DATA_DIR": str(tmp_path / "data"), "TUSD_PORT": "0", **env}
    done = subprocess.run([str(TUSD_PY), "serve"], env=full, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"tusd-py: {variable}"), line
    assert not (tmp_path / "data").exists()


def test_direct_uploads_with_the_s3_store_pass() -> None:
    settings = Settings.from_flat(store="s3", s3_bucket="b", direct_uploads=True, direct_sse="aws:kms")
    assert settings.direct.direct_uploads and settings.direct.direct_url_ttl == 600
    with pytest.raises(ValidationError) as refused:
        Settings.from_flat(store="file", direct_uploads=True)
    assert describe_config_error(refused.value).startswith("TUSD_DIRECT_UPLOADS: ")
