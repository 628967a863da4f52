"""``tusd-py``: the command line. ``tusd-py serve`` runs the tus server, ``tusd-py worker`` the
processing worker (arq, with ``pipeline.worker.WorkerSettings``'s options)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from aiohttp import web

from .settings import Settings


def _serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .log import configure_logging

    overrides: dict[str, Any] = {
        k: v
        for k, v in {"host": args.host, "port": args.port, "store": args.store, "data_dir": args.data_dir}.items()
        if v is not None
    }
    settings = Settings(**overrides)
    configure_logging(settings.log_format, settings.log_level)
    app = create_app(settings)
    print(
        f"tusd-py: tus 1.0.0 on http://{settings.host}:{settings.port}{settings.base_path} "
        f"(store={settings.store}, data_dir={settings.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from pipeline.settings import PipelineSettings
    from pipeline.worker import run

    from .log import configure_logging

    settings = PipelineSettings()
    configure_logging(settings.log_format, settings.log_level)
    if not settings.redis_url:
        print("tusd-py worker: TUSD_REDIS_URL is required (the arq queue lives in Redis)", file=sys.stderr)
        return 2
    print(f"tusd-py: worker on {settings.redis_url} (store={settings.store})", file=sys.stderr, flush=True)
    run(settings)
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
    config_doc = sub.add_parser("config-doc", help="print the configuration reference (docs/configuration.md)")
    config_doc.set_defaults(func=_config_doc)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
