"""The benchmark's baseline: a bare aiohttp server that streams PATCH bodies to disk.

It speaks just enough tus for the load generator (POST creates an empty file and answers a
Location, PATCH appends its body), with no checks, no locks, no info files, no logging: the
ceiling of "aiohttp plus a file" on this machine, measured in the same run as tusd-py.

    python bench/baseline_server.py --port 8081 --data-dir /tmp/x
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

from aiohttp import web

DATA = web.AppKey("data", Path)


async def create(request: web.Request) -> web.Response:
    upload_id = uuid.uuid4().hex
    (request.app[DATA] / upload_id).touch()
    return web.Response(status=201, headers={"Location": f"/files/{upload_id}", "Tus-Resumable": "1.0.0"})


async def patch(request: web.Request) -> web.Response:
    path = request.app[DATA] / request.match_info["upload_id"]
    with open(path, "ab") as f:  # noqa: ASYNC230 (the bare handler: plain blocking writes)
        async for chunk in request.content.iter_any():
            f.write(chunk)
        offset = f.tell()
    return web.Response(status=204, headers={"Upload-Offset": str(offset), "Tus-Resumable": "1.0.0"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    app = web.Application()
    app[DATA] = Path(args.data_dir)
    app.router.add_post("/files/", create)
    app.router.add_patch("/files/{upload_id}", patch)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
