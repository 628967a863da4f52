"""A resumable-upload draft client on asyncio streams: it sends exactly the headers it is given
and reads every response the server writes, interim (1xx) ones included, which no HTTP library
of the test suite hands to the caller. One ``Connection`` per request, as URLSession does after
an interruption; ``DraftClient`` speaks one interop version against one server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from multidict import CIMultiDict

PARTIAL = "application/partial-upload"


@dataclass
class Message:
    status: int
    headers: CIMultiDict[str]
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Exchange:
    final: Message | None  # None: the connection ended first
    interim: list[Message] = field(default_factory=list)

    @property
    def status(self) -> int:
        assert self.final is not None, "no final response"
        return self.final.status

    @property
    def headers(self) -> CIMultiDict[str]:
        assert self.final is not None, "no final response"
        return self.final.headers


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_message(self, method: str, timeout: float = 10.0) -> Message | None:
        """One response (interim or final); None at EOF before a status line."""
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.add(name.strip(), value.strip())
        body = b""
        if status >= 200 and method != "HEAD" and status not in (204, 304):
            body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("Content-Length", "0"))), timeout)
        return Message(status, headers, body)

    async def exchange(self, method: str, timeout: float = 10.0) -> Exchange:
        """Every response up to the final one."""
        result = Exchange(final=None)
        while (message := await self.read_message(method, timeout)) is not None:
            if message.status >= 200:
                result.final = message
                break
            result.interim.append(message)
        return result

    def close(self) -> None:
        self.writer.close()


def request_head(method: str, path: str, headers: Mapping[str, str] | list[tuple[str, str]]) -> bytes:
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in items)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class DraftClient:
    def __init__(self, port: int, version: int, base_path: str = "/files/") -> None:
        self.port, self.version, self.base_path = port, version, base_path

    @property
    def complete_header(self) -> str:
        return "Upload-Incomplete" if self.version == 3 else "Upload-Complete"

    def complete(self, value: bool) -> dict[str, str]:
        """The completeness header in this version's words (interop 3 says it inverted)."""
        flag = not value if self.version == 3 else value
        return {self.complete_header: "?1" if flag else "?0"}

    def is_complete(self, message: Message) -> bool:
        value = message.headers[self.complete_header]
        return (value == "?0") if self.version == 3 else (value == "?1")

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Upload-Draft-Interop-Version": str(self.version), **(extra or {})}

    @staticmethod
    def path_of(location: str) -> str:
        return urlsplit(location).path

    async def send(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes = b"", *, length: int | None = None
    ) -> Exchange:
        """One request on a fresh connection; ``body`` sent whole unless ``length`` is larger (then
        the connection is dropped after ``body``, as a client that loses its network does)."""
        all_headers = self.headers(headers)
        if method in ("POST", "PATCH"):
            all_headers.setdefault("Content-Length", str(len(body) if length is None else length))
        conn = await Connection.open(self.port)
        try:
            await conn.send(request_head(method, path, all_headers) + body)
            if length is not None and length > len(body):
                return await self._dropped(conn, method)
            return await conn.exchange(method)
        finally:
            conn.close()

    async def _dropped(self, conn: Connection, method: str) -> Exchange:
        """Read the 104 of a creation, then hang up mid-body (an append gets none: hang up at once)."""
        result = Exchange(final=None)
        if method != "POST":
            return result
        while (message := await conn.read_message(method, timeout=2.0)) is not None and message.status < 200:
            result.interim.append(message)
            if method == "POST" and message.headers.get("Location"):
                break
        return result

    async def create(self, body: bytes = b"", *, complete: bool, headers: Mapping[str, str] | None = None) -> Exchange:
        extra = {**self.complete(complete), **(headers or {})}
        return await self.send("POST", self.base_path, extra, body)

    async def offset(self, path: str) -> Exchange:
        return await self.send("HEAD", path, {})

    async def append(
        self, path: str, offset: int, body: bytes, *, complete: bool, headers: Mapping[str, str] | None = None
    ) -> Exchange:
        extra = {"Upload-Offset": str(offset), **self.complete(complete)}
        if self.version >= 6:
            extra["Content-Type"] = PARTIAL
        return await self.send("PATCH", path, {**extra, **(headers or {})}, body)

    async def cancel(self, path: str) -> Exchange:
        return await self.send("DELETE", path, {})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
