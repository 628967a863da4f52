"""Settings that cannot be safe are refused at start (issue 11): the models raise, and
``tusd-py serve|worker|keys`` turn that into one stderr line naming the variable, status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.crypto.settings import CryptoSettings
from pipeline.settings import PipelineSettings
from tusd_py.settings import Settings, describe_config_error

TUSD_PY = Path(sys.executable).parent / "tusd-py"
SECRET = "short-SECRET"  # never printed back

REFUSED: list[tuple[dict[str, str], str]] = [
    ({"TUSD_CORS_ALLOW_CREDENTIALS": "true"}, "TUSD_CORS_ALLOW_CREDENTIALS"),
    (
        {"TUSD_CORS_ALLOW_CREDENTIALS": "true", "TUSD_CORS_ALLOW_ORIGINS": "https://a.example, *"},
        "TUSD_CORS_ALLOW_CREDENTIALS",
    ),
    ({"TUSD_CORS_ALLOW_CREDENTIALS": "true", "TUSD_CORS_ALLOW_ORIGINS": "null"}, "TUSD_CORS_ALLOW_CREDENTIALS"),
    ({"TUSD_CORS_ALLOW_ORIGINS": "https://a.example/"}, "TUSD_CORS_ALLOW_ORIGINS"),
    ({"TUSD_URL_SIGNING_SECRET": SECRET}, "TUSD_URL_SIGNING_SECRET"),
    ({"TUSD_PUBLIC_BASE_URL": "up.example.com"}, "TUSD_PUBLIC_BASE_URL"),
    ({"TUSD_PUBLIC_BASE_URL": "https://up.example.com/files"}, "TUSD_PUBLIC_BASE_URL"),
    ({"TUSD_BASE_PATH": "/files/{id}/"}, "TUSD_BASE_PATH"),
    ({"TUSD_BASE_PATH": "/media/"}, "TUSD_BASE_PATH"),
    ({"TUSD_REDIS_URL": "localhost:6379"}, "TUSD_REDIS_URL"),
    ({"TUSD_STORE": "s3"}, "TUSD_S3_BUCKET"),
    ({"TUSD_KEK_PROVIDER": "kms"}, "TUSD_KMS_KEY_ID"),
    ({"TUSD_PORT": "http"}, "TUSD_PORT"),
    ({"TUSD_LOG_LEVEL": "verbose"}, "TUSD_LOG_LEVEL"),
    ({"TUSD_LADDER_HEIGHTS": "720,tall"}, "TUSD_LADDER_HEIGHTS"),
]


def _run(tmp_path: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TUSD_")}
    full = {**clean, "TUSD_DATA_DIR": str(tmp_path / "data"), "TUSD_HOST": "127.0.0.1", "TUSD_PORT": "0", **env}
    return subprocess.run([str(TUSD_PY), *args], env=full, capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize(("env", "variable"), REFUSED, ids=[next(iter(e)) for e, _ in REFUSED])
def test_serve_refuses_with_one_line_and_status_2(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    done = _run(tmp_path, ["serve"], env)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"tusd-py: {variable}: "), lines[0]
    assert "Traceback" not in done.stderr and SECRET not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was set up


@pytest.mark.parametrize(
    ("args", "env", "variable"),
    [
        (["worker"], {"TUSD_REDIS_URL": "localhost:6379"}, "TUSD_REDIS_URL"),
        (["worker"], {"TUSD_REDIS_URL": "redis://127.0.0.1:1/0", "TUSD_STORE": "s3"}, "TUSD_S3_BUCKET"),
        (["worker"], {"TUSD_REDIS_URL": "redis://127.0.0.1:1/0", "TUSD_URL_SIGNING_SECRET": SECRET}, "TUSD_URL_"),
        (["keys", "list"], {"TUSD_KEK_PROVIDER": "kms"}, "TUSD_KMS_KEY_ID"),
        (["keys", "list"], {"TUSD_X264_CRF": "99"}, "TUSD_X264_CRF"),
        (["keys", "list"], {"TUSD_LOG_LEVEL": "loud"}, "TUSD_LOG_LEVEL"),
    ],
)
def test_worker_and_keys_refuse_the_same_way(
    tmp_path: Path, args: list[str], env: dict[str, str], variable: str
) -> None:
    done = _run(tmp_path, args, env)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"tusd-py: {variable}"), done.stderr
    assert SECRET not in done.stderr


@pytest.mark.parametrize(
    "values",
    [
        {"cors_allow_credentials": True},
        {"cors_allow_credentials": True, "cors_allow_origins": "https://a.example,*"},
        {"cors_allow_credentials": True, "cors_allow_origins": "null"},
        {"cors_allow_origins": "https://a.example/"},
        {"cors_allow_origins": "a.example"},
        {"public_base_url": "up.example.com"},
        {"public_base_url": "ftp://up.example.com"},
        {"public_base_url": "https://up.example.com/prefix"},
        {"public_base_url": "https://up.example.com?x=1"},
        {"public_base_url": "https://user@up.example.com"},
        {"public_base_url": "https://up.example.com:99999"},
        {"public_base_url": "https://up.example.com\n"},
        {"base_path": "/files/{id}/"},
        {"base_path": "/a b/"},
        {"base_path": "/a%2fb/"},
        {"base_path": "/a/../b/"},
        {"base_path": "/a//b/"},
        {"base_path": "/files?x/"},
        {"base_path": "/media"},
        {"base_path": "/media/uploads/"},
        {"base_path": "/auth"},
        {"base_path": "/auth/files/"},
        {"redis_url": "localhost:6379"},
        {"store": "s3"},
        {"log_level": "verbose"},
        {"log_format": "xml"},
    ],
)
def test_the_server_settings_refuse(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings.from_flat(**values)
    line = describe_config_error(caught.value)
    assert line.startswith("TUSD_") and "\n" not in line


@pytest.mark.parametrize(
    "values",
    [
        {"cors_allow_credentials": True, "cors_allow_origins": "https://a.example, http://localhost:3000"},
        {"cors_allow_origins": "*"},
        {"cors_allow_origins": "null, https://[::1]:8443"},
        {"public_base_url": "https://up.example.com/"},
        {"public_base_url": "http://10.0.0.1:8080"},
        {"base_path": "uploads"},
        {"base_path": "/api/v1/files"},
        {"base_path": "/"},
        {"redis_url": "rediss://user:pw@redis:6380/0"},
        {"redis_url": "unix:///run/redis.sock"},
        {"store": "s3", "s3_bucket": "b"},
        {"log_level": "WARNING"},
    ],
)
def test_sound_settings_still_pass(values: dict[str, Any]) -> None:
    Settings.from_flat(**values)


def test_the_pipeline_and_key_settings_refuse() -> None:
    with pytest.raises(ValidationError, match="x264_crf"):
        PipelineSettings(x264_crf=99)
    with pytest.raises(ValidationError, match="at least 16 bytes"):
        CryptoSettings(url_signing_secret="x" * 15)
    with pytest.raises(ValidationError, match="TUSD_KMS_KEY_ID"):
        CryptoSettings(kek_provider="kms")


def test_flat_names_reach_their_sections_and_typos_are_refused(tmp_path: Path) -> None:
    settings = Settings.from_flat(port=0, store="s3", s3_bucket="b", redis_url="redis://r/0", x264_crf=30)
    assert (settings.server.port, settings.storage.s3_bucket, settings.redis.redis_url) == (0, "b", "redis://r/0")
    assert settings.pipeline.x264_crf == 30
    with pytest.raises(TypeError, match="prot"):
        Settings.from_flat(prot=1)


def test_the_key_file_lives_in_the_storage_sections_data_dir(tmp_path: Path) -> None:
    assert Settings.from_flat(data_dir=str(tmp_path)).crypto.key_file == tmp_path / "keys" / "master.key"
    assert Settings.from_flat(data_dir=str(tmp_path)).crypto.may_create_key
    assert not Settings.from_flat(store="s3", s3_bucket="b").crypto.may_create_key  # shared storage


def test_the_line_never_carries_a_value() -> None:
    with pytest.raises(ValidationError) as caught:
        CryptoSettings(url_signing_secret=SECRET)
    assert describe_config_error(caught.value).startswith("TUSD_URL_SIGNING_SECRET: must be at least 16 bytes")
    assert SECRET not in describe_config_error(caught.value)


def test_a_taken_port_is_one_line_and_no_banner(tmp_path: Path) -> None:
    """The bind fails before the banner: no "tus 1.0.0 on ..." claims a port the server lacks."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(tmp_path, ["serve"], {"TUSD_PORT": str(port)})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"tusd-py: cannot listen on 127.0.0.1:{port}: " in done.stderr
    assert "tus 1.0.0 on" not in done.stderr
