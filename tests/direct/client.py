"""A Python client of the S3 signing API (``/s3/``), as Uppy's @uppy/aws-s3 uses it: create the
multipart upload, sign parts in batches, PUT them to the bucket in parallel, list, complete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

MiB = 1024 * 1024


@dataclass
class DirectClient:
    http: aiohttp.ClientSession
    base: str  # the API server, e.g. http://127.0.0.1:1234
    headers: dict[str, str] = field(default_factory=dict)  # e.g. the caller's token
    part_size: int = 5 * MiB
    parallel: int = 4
    fail_once: set[int] = field(default_factory=set)  # part numbers whose first PUT breaks off midway
    puts: list[int] = field(default_factory=list)  # part numbers PUT to the bucket, attempts included

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, headers=self.headers, **kwargs) as resp:
            body = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, body.decode()

    async def create(self, size: int, filename: str = "file.bin", type: str = "application/octet-stream") -> dict:
        status, body = await self.call(
            "POST", "/s3/multipart", json={"filename": filename, "type": type, "metadata": {"size": str(size)}}
        )
        assert status == 200, body
        return dict(body)

    async def sign(self, upload_id: str, key: str, numbers: list[int]) -> dict[int, str]:
        query = {"key": key, "partNumbers": ",".join(map(str, numbers))}
        status, body = await self.call("GET", f"/s3/multipart/{upload_id}/batch", params=query)
        assert status == 200, body
        return {int(n): url for n, url in body["presignedUrls"].items()}

    async def listed(self, upload_id: str, key: str) -> list[dict]:
        status, body = await self.call("GET", f"/s3/multipart/{upload_id}", params={"key": key})
        assert status == 200, body
        return list(body)

    async def put_part(self, url: str, number: int, data: bytes) -> str:
        """PUT one part; a part in ``fail_once`` breaks off after half its bytes the first time
        (a dropped connection), and is sent again whole, to a freshly signed URL if need be."""
        self.puts.append(number)
        if number in self.fail_once:
            self.fail_once.discard(number)

            async def half() -> AsyncIterator[bytes]:
                yield data[: len(data) // 2]
                raise ConnectionResetError("the network went away")

            try:
                async with self.http.put(url, data=half(), headers={"Content-Length": str(len(data))}) as resp:
                    await resp.read()
            except (aiohttp.ClientError, ConnectionResetError):
                pass
            return await self.put_part(url, number, data)
        async with self.http.put(url, data=data) as resp:
            assert resp.status == 200, await resp.text()
            return resp.headers["ETag"]

    async def post_form(self, params: dict[str, Any], data: bytes, filename: str = "file") -> int:
        """The single upload of ``/s3/params``: a form POST of its fields, then the file (as the
        plugin's ``postObject`` sends it); the status S3 answered."""
        form = aiohttp.FormData()
        for name, value in params["fields"].items():
            form.add_field(name, value)
        form.add_field("file", data, filename=filename, content_type=params["fields"].get("Content-Type"))
        async with self.http.post(params["url"], data=form) as resp:
            await resp.read()
            return resp.status

    async def upload_parts(self, upload_id: str, key: str, data: bytes, numbers: list[int]) -> dict[int, str]:
        gate = asyncio.Semaphore(self.parallel)
        etags: dict[int, str] = {}
        for first in range(0, len(numbers), 10):
            batch = numbers[first : first + 10]
            urls = await self.sign(upload_id, key, batch)

            async def send(number: int, urls: dict[int, str] = urls) -> None:
                async with gate:
                    chunk = data[(number - 1) * self.part_size : number * self.part_size]
                    etags[number] = await self.put_part(urls[number], number, chunk)

            await asyncio.gather(*(send(n) for n in batch))
        return etags

    def numbers(self, size: int) -> list[int]:
        return list(range(1, -(-size // self.part_size) + 1))

    async def complete(self, upload_id: str, key: str, etags: dict[int, str]) -> tuple[int, Any]:
        parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(etags.items())]
        return await self.call(
            "POST", f"/s3/multipart/{upload_id}/complete", params={"key": key}, json={"parts": parts}
        )
