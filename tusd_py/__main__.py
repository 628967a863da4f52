"""``tusd-py``: the command line. ``tusd-py serve`` runs the tus server, ``tusd-py worker`` the
processing worker (arq, ``tusd_py/worker.py``), ``tusd-py keys`` lists, rotates and retires
key-encryption keys (``pipeline.keyadmin``), ``tusd-py db`` migrates the SQL database
(``db/admin.py``), ``tusd-py users`` manages accounts (``auth/cli.py``), ``tusd-py s3 cors`` sets
the bucket rule direct uploads need, and ``tusd-py config-doc`` prints docs/configuration.md."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from .settings import CONFIG_ERRORS, Settings, describe_config_error


def _bad_config(exc: ValidationError | SettingsError) -> int:
    """A setting no deployment can run with: one line naming the variable, no traceback, status 2."""
    print(f"tusd-py: {describe_config_error(exc)}", file=sys.stderr)
    return 2


def _from_env() -> Settings | None:
    """Every section from ``TUSD_*``, logging configured; ``None`` once a bad setting is reported
    (a bad one stops the command before it touches anything, not halfway)."""
    from .log import configure_logging

    try:
        settings = Settings()
    except CONFIG_ERRORS as exc:
        _bad_config(exc)
        return None
    configure_logging(settings.log.log_format, settings.log.log_level)
    return settings


def _serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .log import configure_logging

    overrides: dict[str, Any] = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "store": args.store, "data_dir": args.data_dir}.items()
        if v is not None
    }
    try:
        settings = Settings.from_flat(**overrides)  # every section, checked before anything is set up
    except CONFIG_ERRORS as exc:
        return _bad_config(exc)
    configure_logging(settings.log.log_format, settings.log.log_level)
    from pipeline.crypto.keys import KeyConfigError

    from .auth.tokens import AuthConfigError

    try:
        app = create_app(settings)
    except (KeyConfigError, AuthConfigError) as exc:  # a missing key or token secret: say so, no traceback
        print(f"tusd-py: cannot start: {exc}", file=sys.stderr)
        return 2
    from .web.connections import CannotListen, CappedSite, serve

    server = settings.server

    def ready(site: CappedSite) -> None:  # once the socket is bound: the banner never claims a port it lacks
        print(
            f"tusd-py: tus 1.0.0 on http://{server.host}:{site.port}{server.base_path} "
            f"(store={settings.storage.store}, data_dir={settings.storage.data_dir})",
            file=sys.stderr,
            flush=True,
        )

    try:
        asyncio.run(serve(app, server, ready=ready))  # web.run_app, plus the connection cap
    except CannotListen as exc:
        print(f"tusd-py: {exc}", file=sys.stderr)
        return 1
    return 0


def _worker(args: argparse.Namespace) -> int:
    if (settings := _from_env()) is None:  # a bad setting stops the start, not a job
        return 2
    if not settings.redis.redis_url:
        print("tusd-py worker: TUSD_REDIS_URL is required (the arq queue lives in Redis)", file=sys.stderr)
        return 2
    from .worker import run  # after the check: the worker's imports (arq, av) are heavy

    print(
        f"tusd-py: worker on {settings.redis.redis_url} (store={settings.storage.store})", file=sys.stderr, flush=True
    )
    run(settings)
    return 0


def _keys(args: argparse.Namespace) -> int:
    import asyncio

    from pipeline import keyadmin
    from pipeline.crypto.keys import CryptoError

    if (settings := _from_env()) is None:
        return 2
    crypto = settings.crypto

    async def run() -> list[str]:
        from .db.admin import opened
        from .db.records import SqlMediaRecords

        async with opened(settings) as database:  # the records the servers and workers use
            records = SqlMediaRecords(database)
            if args.keys_command == "rotate":
                report = await keyadmin.rotate(crypto, records, new_key=not args.rewrap)
                lines = [f"active KEK: {report.active}"]
                if report.previous_active:
                    lines.append(f"previous KEK kept until retired: {report.previous_active}")
                lines.append(f"rewrapped {report.rewrapped} data keys, {report.unchanged} already current")
                return lines
            if args.keys_command == "retire":
                return [await keyadmin.retire(crypto, records, args.kek_id)]
            return await keyadmin.describe(crypto, records)

    try:
        lines = asyncio.run(run())
    except (keyadmin.KeyAdminError, CryptoError) as exc:
        print(f"tusd-py keys {args.keys_command}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _db(args: argparse.Namespace) -> int:
    from .db import admin
    from .db.engine import UNAVAILABLE

    if (settings := _from_env()) is None:
        return 2
    try:
        lines = asyncio.run(admin.run(settings, args.db_command))
    except UNAVAILABLE as exc:
        print(f"tusd-py db {args.db_command}: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _users(args: argparse.Namespace) -> int:
    """``tusd-py users``: against the database the servers use (sessions: Redis, else the database)."""
    from .auth import cli
    from .builders import build_redis, session_store
    from .db.admin import opened
    from .db.engine import UNAVAILABLE
    from .db.users import SqlUsers

    if (settings := _from_env()) is None:
        return 2

    async def run() -> list[str]:
        async with opened(settings) as database:  # migrated first, as the server does
            redis = build_redis(settings)
            try:
                return await cli.run(
                    args.users_command,
                    getattr(args, "email", ""),
                    users=SqlUsers(database),
                    sessions=session_store(redis, database),
                    hash_concurrency=settings.auth.password_hash_concurrency,
                    password=lambda: cli.read_password(args.password_stdin),
                )
            finally:
                if redis is not None:
                    await redis.aclose()

    try:
        lines = asyncio.run(run())
    except cli.UsersCommandError as exc:
        print(f"tusd-py users {args.users_command}: {exc}", file=sys.stderr)
        return 1
    except UNAVAILABLE as exc:
        print(f"tusd-py users {args.users_command}: the database is unavailable: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


def _s3(args: argparse.Namespace) -> int:
    """``tusd-py s3 cors --origin URL``: the bucket CORS rule direct uploads need (docs/operations.md)."""
    import json

    from .protocol.errors import TusError
    from .stores.s3.client import open_client
    from .stores.s3.direct import apply_cors, check_origin

    if (settings := _from_env()) is None:
        return 2
    storage = settings.storage
    if not storage.s3_bucket:
        print("tusd-py s3 cors: TUSD_S3_BUCKET is required", file=sys.stderr)
        return 2
    try:
        origins = [check_origin(origin) for origin in args.origin]
    except ValueError as exc:
        print(f"tusd-py s3 cors: {exc}", file=sys.stderr)
        return 2

    async def run() -> dict[str, Any]:
        client = open_client(
            endpoint_url=storage.s3_endpoint_url, region=storage.s3_region, path_style=storage.s3_path_style
        )
        async with client as opened:
            return await apply_cors(opened, storage.s3_bucket, origins)

    try:
        applied = asyncio.run(run())
    except TusError as exc:
        print(f"tusd-py s3 cors: {exc.message}", file=sys.stderr)
        return 1
    print(f"bucket {storage.s3_bucket}: CORS configuration replaced with")
    print(json.dumps(applied, indent=2))
    return 0


def _config_doc(args: argparse.Namespace) -> int:
    from .configdoc import render

    sys.stdout.write(render())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tusd-py", description="Resumable uploads (tus 1.0) and media ingest.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the tus server (settings from TUSD_* variables)")
    serve.add_argument("--host", help="overrides TUSD_HOST")
    serve.add_argument("--port", type=int, help="overrides TUSD_PORT")
    serve.add_argument("--store", choices=["file", "s3", "memory"], help="overrides TUSD_STORE")
    serve.add_argument("--data-dir", help="overrides TUSD_DATA_DIR")
    serve.set_defaults(func=_serve)
    worker = sub.add_parser("worker", help="run the processing worker (arq; settings from TUSD_* variables)")
    worker.set_defaults(func=_worker)
    keys = sub.add_parser("keys", help="key-encryption keys: list, rotate, retire (settings from TUSD_*)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("list", help="every KEK of the ring and how many assets it wraps")
    rotate = keys_sub.add_parser("rotate", help="new master key file, then rewrap every data key under it")
    rotate.add_argument(
        "--rewrap", action="store_true", help="no new key file: rewrap under the configured active KEK (env, KMS)"
    )
    retire = keys_sub.add_parser("retire", help="delete a previous KEK once no asset uses it")
    retire.add_argument("kek_id", help="the KEK id, as `keys list` shows it")
    keys.set_defaults(func=_keys)
    db = sub.add_parser("db", help="the SQL database: upgrade, current, import-records (TUSD_DATABASE_URL)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply pending schema migrations")
    db_sub.add_parser("current", help="the database's schema revision, and the newest this code knows")
    db_sub.add_parser("import-records", help="copy media records from Redis or tusd.sqlite3 (before the database)")
    db.set_defaults(func=_db)
    users = sub.add_parser("users", help="accounts (TUSD_AUTH=local): create, list, disable, enable")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="a new account; the password from a prompt or --password-stdin")
    create.add_argument("email")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users_sub.add_parser("list", help="every account: id, created, active or disabled, email")
    users_sub.add_parser("disable", help="refuse the account's logins and end its sessions").add_argument("email")
    users_sub.add_parser("enable", help="let a disabled account log in again").add_argument("email")
    users.set_defaults(func=_users, password_stdin=False)
    s3 = sub.add_parser("s3", help="the S3 bucket: cors (the rule direct uploads need)")
    s3_sub = s3.add_subparsers(dest="s3_command", required=True)
    cors = s3_sub.add_parser("cors", help="replace the bucket's CORS rules: PUT, POST from --origin, ETag exposed")
    cors.add_argument("--origin", action="append", required=True, help="the web page's origin (repeatable)")
    s3.set_defaults(func=_s3)
    config_doc = sub.add_parser("config-doc", help="print the configuration reference (docs/configuration.md)")
    config_doc.set_defaults(func=_config_doc)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
