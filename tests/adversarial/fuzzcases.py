"""Malformed requests, generated from one seed: what an attacker (or a broken client) sends.

Every case is raw bytes for a new connection. Either the server must answer it (``cut`` is
False: the request ends with ``Connection: close`` so the answer ends at EOF), or the body is
short or never ends (``cut``): the client sends it and goes away without waiting.

The generator knows the *protected* uploads (created before the fuzz, whose bytes must survive
it) and never sends them anything that may legitimately change them: their PATCHes carry a
wrong ``Upload-Offset`` everywhere, or the right one with something that must be refused before
a byte is stored (a body declared larger than the rest, a checksum that does not match, a wrong
content type or version). Uploads the fuzz itself created (``mine``) are fair game.

A cut request to the creation URL always carries ``Upload-Metadata: fuzzcut <n>``: the test can
tell an upload such a request created (its client left without reading the Location) from one
that a refused request left behind.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass

OCTETS = "application/offset+octet-stream"
CUT_KEY = "fuzzcut"
Header = tuple[str, str | bytes]


@dataclass
class Protected:
    """An upload that the fuzz must not change: ``data`` is its whole content, ``offset`` what is
    stored, ``defer`` whether it was created with Upload-Defer-Length."""

    path: str
    data: bytes
    offset: int
    partial: bool = False
    defer: bool = False

    @property
    def complete(self) -> bool:
        return self.offset == len(self.data)


@dataclass
class Case:
    raw: bytes
    cut: bool
    note: str
    protected: str | None = None  # the protected upload it targets, if any
    answers: int = 0  # stop reading after this many complete answers (0: read to EOF)


BAD_NUMBERS = [
    "-1", "", " ", "abc", "1e3", "0x10", "1.5", "+5", "1_0", "\uff11\uff12", "\u0663", "99999999999999999999",
    "18446744073709551616", "9223372036854775807", "9223372036854775808", "7 7", "7,7", "\t3",
    "0000000000000000000001", "NaN", "inf", "-0", "0" * 100, "5\x0b", "\u0660",
]
OVERRIDES = [
    "PATCH", "DELETE", "HEAD", "GET", "POST", "OPTIONS", "patch", " delete ", "TRACE", "CONNECT", "",
    "PATCH, DELETE", "A" * 2000, "PUT", "Patch", "DELETE\t",
]
ODD_METHODS = [
    "PUT", "TRACE", "CONNECT", "patch", "post", "Post", "get", "PROPFIND", "BREW", "M-SEARCH", "PATCH ",
    "A" * 300, "A" * 9000, "GET\x00", "PÄTCH", "*", "DELETE", "OPTIONS",
]
WEIRD_IDS = [
    "..", "%2e%2e", "%2E%2E/%2e%2e/etc/passwd", "../../etc/passwd", "a%00b", "%00", "a%0ab", "%0d%0aX:%20y",
    "a" * 201, "a" * 5000, "ünïcode", "%C3%BC", "%ff%fe", "a b", "a\tb", "." , "...", "~", "a/b", "a%2fb",
    "%2e%2e%2f%2e%2e%2fuploads", "con", "NUL", "0" * 32, "f" * 32, "-", "_", "a;b", "a?b", "a#b",
    "\u202e", "%u002e", "..%5c..%5c", "😀",
]
VERSIONS = ["HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.2", "HTTP/9.9", "http/1.1", "HTTP/1.1x", "HTTP/", "HTTP/1.01"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def serialize(method: str, target: str, headers: list[Header], body: bytes = b"", version: str = "HTTP/1.1") -> bytes:
    out = [f"{method} {target} {version}\r\n".encode("utf-8", "surrogateescape")]
    for name, value in headers:
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
        out.append(name.encode() + b": " + raw + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out) + body


def _drop(headers: list[Header], name: str) -> list[Header]:
    return [(n, v) for n, v in headers if n.strip().lower() != name.lower()]


def _chunked(rng: random.Random, body: bytes) -> bytes:
    out, i = [], 0
    while i < len(body):
        n = rng.randint(1, max(1, len(body) // 3 + 1))
        piece = body[i : i + n]
        ext = rng.choice(["", "", ";x=y", ";" + "e" * 50])
        out.append(f"{len(piece):x}{ext}\r\n".encode() + piece + b"\r\n")
        i += n
    return b"".join(out) + b"0\r\n\r\n"


class Fuzzer:
    def __init__(self, seed: int, protected: list[Protected]) -> None:
        self.rng = random.Random(seed)
        self.protected = protected
        self.mine: list[str] = []  # /files/<id> of uploads the fuzz created
        self.partials: list[str] = [p.path for p in protected if p.partial and p.complete]
        self.count = 0

    # -- values -------------------------------------------------------------------------------
    def wrong_offset(self, p: Protected) -> str:
        """Any Upload-Offset value that does not name ``p``'s offset, however leniently parsed."""
        rng = self.rng
        while True:
            value = rng.choice(
                [str(p.offset - 1), str(p.offset + 1), "0", str(len(p.data)), str(len(p.data) + 1),
                 str(p.offset * 2), str(rng.randint(0, 10**6)), *rng.sample(BAD_NUMBERS, 3)]
            )
            try:
                if int(value.replace("_", "").strip()) == p.offset:
                    continue
            except ValueError:
                pass
            return value

    def number(self) -> str:
        rng = self.rng
        return rng.choice([str(rng.randint(0, 4096)), "0", rng.choice(BAD_NUMBERS), str(rng.randint(0, 2**40))])

    def body(self) -> bytes:
        rng = self.rng
        size = rng.choice([0, 1, rng.randint(1, 3000), rng.randint(1, 3000), rng.randint(3000, 300_000)])
        return rng.randbytes(size)

    def metadata(self) -> str | bytes:
        rng = self.rng
        name = b64(rng.choice([b"video.mp4", "ünï.mov".encode(), b"a" * 100]))
        return rng.choice(
            [
                f"filename {name}",
                f"filename {name},filetype {b64(b'video/mp4')},empty",
                "filename !!!",
                "filename YQ",
                "filename  YQ==",
                ",",
                "k YQ==,k Yg==",
                "\x01k YQ==",
                "k\x7f YQ==",
                f"filename {b64(b'a' + bytes([13, 10]) + b'Set-Cookie: x=1')}",
                f"filename {b64(bytes([0]))}",
                f"filename {b64(b'../../etc/passwd')}",
                f"filename {b64(bytes(range(256)))}",
                f"filetype {b64(b'text/html')}",
                f"k {'A' * 9000}",
                f"k {'QUFB' * 1900}",
                "k YQ==\r\n ,j Yg==",  # obs-fold
                b"k YQ==\nj Yg==",
                b"k Y\x00Q==",
                b"k \xff\xfe",
                ",".join(f"k{i} YQ==" for i in range(500)),
                "filename " + b64(b"\x1b[31mred"),
            ]
        )

    def concat(self) -> str:
        rng = self.rng
        q = self.partials or ["/files/" + "0" * 32]
        other = rng.choice([p.path for p in self.protected])
        mine = rng.choice(self.mine) if self.mine else "/files/" + "1" * 32
        return rng.choice(
            [
                "final;" + " ".join(q),
                "final;" + " ".join(q),
                f"final;{q[0]} {q[0]}",
                f"final;{other}",
                f"final;{q[0]} {other}",
                f"final;{mine}",
                f"final;{q[0]} {mine}",
                "final;!!!",
                "final;/files/../x",
                "final;/files/",
                f"final;http://evil.example{q[0]}",
                "final;/files/%2e%2e",
                "final;          ",
                "final;",
                f"final;/other{q[0]}",
                "final;/files/" + "a" * 300,
                "finale;",
                "PARTIAL",
                "partial;final",
                "final;" + " ".join([q[0]] * 600),
                "final;" + " ".join([q[0]] * 40),
                f"final;{q[0]}\t{q[-1]}",
                f"final;{q[0]},{q[-1]}",
            ]
        )

    def checksum(self, body: bytes) -> str:
        rng = self.rng
        good = b64(hashlib.sha1(body).digest())
        return rng.choice(
            [
                f"sha1 {good}",
                f"sha1 {b64(hashlib.sha1(body + b'x').digest())}",
                "sha1 !!!",
                "sha1",
                "md5 ",
                "crc32 AAAAAA==",
                f"sha256 {b64(hashlib.md5(body).digest())}",
                f"SHA1 {good}",
                f"sha1  {good}",
                f"sha1 {good} extra",
                f"sha512 {b64(hashlib.sha512(body).digest())}",
                "sha1 " + "A" * 9000,
            ]
        )

    def target(self) -> tuple[str, Protected | None]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            p = rng.choice(self.protected)
            return p.path + rng.choice(["", "", "", "?x=1", "?"]), p
        if roll < 0.7 and self.mine:
            return rng.choice(self.mine), None
        if roll < 0.9:
            base = rng.choice(self.mine) if self.mine and rng.random() < 0.3 else "/files/"
            weird = rng.choice(WEIRD_IDS)
            return rng.choice([f"/files/{weird}", f"{base}/{weird}", f"{base}{weird}", f"/files/{weird}/x"]), None
        return rng.choice(["/files/", "/files", "//files/", "/files//", "http://x/files/", "*", "/"]), None

    # -- cases --------------------------------------------------------------------------------
    def case(self) -> Case:
        self.count += 1
        roll = self.rng.random()
        if roll < 0.30:
            return self.creation()
        if roll < 0.65:
            return self.upload_request()
        if roll < 0.72:
            return self.refused_at_the_right_offset()
        if roll < 0.85:
            return self.raw_garbage()
        return self.pipelined()

    def _finish(
        self,
        method: str,
        target: str,
        headers: list[Header],
        body: bytes,
        body_mode: str,
        note: str,
        protected: Protected | None = None,
        version: str = "HTTP/1.1",
    ) -> Case:
        """Frame the body per ``body_mode``, end with Connection: close (or cut), serialize."""
        rng = self.rng
        cut = False
        tail = b""
        if body_mode == "exact":
            headers.append(("Content-Length", str(len(body))))
        elif body_mode == "none":
            body = b""
        elif body_mode == "longer":  # more bytes than Content-Length: the rest is garbage "pipelined" after
            headers.append(("Content-Length", str(max(0, len(body) - rng.randint(1, 50)))))
            tail = rng.choice([b"garbage", rng.randbytes(40), b"GET /files/ HTTP/1.1"]) + b"\r\n\r\n"
        elif body_mode == "shorter":
            headers.append(("Content-Length", str(len(body) + rng.randint(1, 100_000))))
            cut = True
        elif body_mode == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
            body = _chunked(rng, body)
        elif body_mode == "chunked_bad":
            headers.append(("Transfer-Encoding", "chunked"))
            body = rng.choice([b"zz\r\nab\r\n0\r\n\r\n", b"-1\r\n\r\n", b"0x5\r\nhello\r\n0\r\n\r\n",
                               b"ffffffffffffffffffffff\r\n", b"5\r\nhelloX\r\n0\r\n\r\n", b"\r\n\r\n"])
        elif body_mode == "chunked_cut":
            headers.append(("Transfer-Encoding", "chunked"))
            body = _chunked(rng, body)[: -rng.randint(1, 5)] if body else b"5\r\nab"
            cut = True
        elif body_mode == "te_and_cl":
            headers.append(("Transfer-Encoding", rng.choice(["chunked", "gzip, chunked", "chunked, gzip", " chunked"])))
            headers.append(("Content-Length", str(len(body))))
        elif body_mode == "two_cl":
            headers.append(("Content-Length", str(len(body))))
            headers.append(("Content-Length", rng.choice([str(len(body)), str(len(body) + 1), "0"])))
        elif body_mode == "odd_cl":  # five bytes follow, in case the parser reads the value as 5
            headers.append(("Content-Length", rng.choice(["-1", "+5", "0x5", " 5", "5 ", "1e2", "abc", "5, 5", ""])))
            body = rng.randbytes(5)
        elif body_mode == "expect":
            headers.append(("Expect", "100-continue"))
            headers.append(("Content-Length", str(len(body))))
        elif body_mode == "expect_silent":  # asks for 100 Continue and then sends nothing
            headers.append(("Expect", "100-continue"))
            headers.append(("Content-Length", str(len(body) + 1)))
            body, cut = b"", True
        elif body_mode == "headers_cut":  # the header block never ends
            cut = True
        else:
            raise AssertionError(body_mode)
        if cut and protected is not None and protected.offset != len(protected.data):
            # a cut PATCH keeps what arrived: only with an offset that cannot be accepted
            assert all(v != str(protected.offset) for n, v in headers if n.lower() == "upload-offset"), note
        if cut:  # (any target: dot segments can turn an upload's URL into the creation URL)
            marker = f"{CUT_KEY} {b64(str(self.count).encode())}"
            headers = [*_drop(headers, "Upload-Metadata"), ("Upload-Metadata", marker)]
        if not cut:
            headers.append(("Connection", "close"))
        raw = serialize(method, target, headers, b"", version)
        if body_mode == "headers_cut":
            raw = raw[: -rng.randint(2, 30)]
            body = b""
        # One request: one answer is all there is to read. An answer given before the (declared)
        # body arrived is followed by aiohttp lingering for that body (up to 10 s): do not wait it out.
        answers = 0 if cut or body_mode == "longer" else 1
        return Case(raw + body + tail, cut, note, protected.path if protected else None, answers)

    def _noise(self, headers: list[Header], protected: Protected | None) -> str:
        """One random mutation of the header list; its description."""
        rng = self.rng
        kind = rng.choice(  # about half reach the handlers untouched; most others die in aiohttp's parser
            ["none"] * 12 + ["dup", "override", "defer2", "origin", "space_name", "nul", "huge", "many",
             "no_host", "two_hosts", "version", "fold", "bare_lf_value", "unicode_name", "empty_name"]
        )
        if kind == "dup":
            names = [n for n, _ in headers if n.lower().startswith("upload") or n.lower() == "tus-resumable"]
            if names:
                name = rng.choice(names)
                if name.lower() == "upload-offset" and protected is not None:
                    value: str | bytes = self.wrong_offset(protected)
                elif name.lower() == "upload-metadata":
                    value = self.metadata()
                elif name.lower() == "upload-concat":
                    value = self.concat()
                else:
                    value = self.number()
                headers.insert(rng.randint(0, len(headers)), (name, value))
        elif kind == "override":
            choices = OVERRIDES if protected is None else [o for o in OVERRIDES if "DELETE" not in o.upper()]
            headers.append(("X-HTTP-Method-Override", rng.choice(choices)))
        elif kind == "defer2":
            headers.append(("Upload-Defer-Length", rng.choice(["2", "0", "", "true", "1 1", "01"])))
        elif kind == "origin":
            headers.append(("Origin", rng.choice(["https://evil.example", "null", "x" * 3000])))
        elif kind == "space_name":
            headers.append(("Upload-Offset ", "0"))
        elif kind == "nul":
            headers.append(("X-Nul", b"a\x00b"))
        elif kind == "huge":
            headers.append(("X-Huge", "h" * rng.choice([8000, 8190, 8191, 9000, 70_000])))
        elif kind == "many":
            headers.extend((f"X-Many-{i}", "v") for i in range(rng.choice([100, 1000, 5000])))
        elif kind == "no_host":
            headers[:] = _drop(headers, "Host")
        elif kind == "two_hosts":
            headers.append(("Host", "evil.example"))
        elif kind == "version":
            version = rng.choice(["1.0.1", "", "0.2.2", "1.0.0 "])
            headers[:] = [*_drop(headers, "Tus-Resumable"), ("Tus-Resumable", version)]
        elif kind == "fold":
            headers.append(("X-Folded", "a\r\n b"))
        elif kind == "bare_lf_value":
            headers.append(("X-Lf", b"a\nb"))
        elif kind == "unicode_name":
            headers.append(("X-Ünï", "v"))
        elif kind == "empty_name":
            headers.append(("", "v"))
        return kind

    def creation(self) -> Case:
        rng = self.rng
        headers: list[Header] = [("Host", "x"), ("Tus-Resumable", "1.0.0")]
        body = b""
        concat = rng.random() < 0.2
        if concat:
            value = self.concat()
            headers.append(("Upload-Concat", value))
            if value == "PARTIAL" or rng.random() < 0.2:
                headers.append(("Upload-Length", str(rng.randint(0, 2000))))
        else:
            choice = rng.random()
            if choice < 0.55:
                headers.append(("Upload-Length", str(rng.choice([0, rng.randint(1, 4000), rng.randint(1, 400_000)]))))
            elif choice < 0.7:
                headers.append(("Upload-Defer-Length", "1"))
            elif choice < 0.8:
                headers.append(("Upload-Length", self.number()))
            elif choice < 0.85:
                headers += [("Upload-Length", "5"), ("Upload-Defer-Length", "1")]
            elif choice < 0.9:
                headers.append(("Upload-Length", rng.choice(["10737418241", "5497558138881", str(2**63)])))
            if rng.random() < 0.1:
                headers.append(("Upload-Concat", "partial"))
        if rng.random() < 0.5:
            headers.append(("Upload-Metadata", self.metadata()))
        mode = rng.choice(["exact", "none", "exact", "none", "longer", "shorter", "chunked", "chunked_bad",
                           "chunked_cut", "te_and_cl", "two_cl", "odd_cl", "expect", "expect_silent", "headers_cut"])
        if rng.random() < 0.4:  # creation-with-upload
            body = self.body()[:5000]
            content_type = rng.choice([OCTETS, OCTETS, "text/plain", OCTETS.upper(), OCTETS + "; x=1"])
            headers.append(("Content-Type", content_type))
            if rng.random() < 0.3:
                headers.append(("Upload-Checksum", self.checksum(body)))
        noise = self._noise(headers, None)
        method = rng.choice(["POST"] * 8 + ["post", "PATCH"])
        if method == "PATCH":
            headers.append(("X-HTTP-Method-Override", "POST"))
        target = rng.choice(["/files/"] * 8 + ["/files", "http://x/files/", "/files/?a=b"])
        return self._finish(method, target, headers, body, mode, f"creation mode={mode} noise={noise}")

    def upload_request(self) -> Case:
        rng = self.rng
        target, protected = self.target()
        method = rng.choice(["PATCH"] * 6 + ["HEAD", "GET", "DELETE", "OPTIONS", "POST"] + ODD_METHODS[:8])
        if protected is not None and method.upper() == "DELETE":
            method = "PATCH"
        headers: list[Header] = [("Host", "x"), ("Tus-Resumable", "1.0.0")]
        if protected is not None:
            headers.append(("Upload-Offset", self.wrong_offset(protected)))
        else:
            headers.append(("Upload-Offset", rng.choice(["0", "0", "0", self.number()])))
        headers.append(("Content-Type", rng.choice([OCTETS] * 5 + ["text/plain", "", OCTETS.upper(), OCTETS + "x"])))
        body = self.body()
        if protected is None and self.mine and rng.random() < 0.1:
            body = rng.randbytes(rng.randint(260_000, 600_000))  # crosses an S3 part
        if rng.random() < 0.15:
            headers.append(("Upload-Checksum", self.checksum(body)))
        if rng.random() < 0.1:
            headers.append(("Upload-Length", self.number()))
        if method == "POST" and rng.random() < 0.8:
            override = rng.choice(OVERRIDES if protected is None else ["PATCH", "HEAD", "GET", "patch", "OPTIONS"])
            headers.append(("X-HTTP-Method-Override", override))
        if method in ("HEAD", "GET") and rng.random() < 0.5:
            choices = OVERRIDES if protected is None else ["PATCH", "HEAD", "POST"]
            headers.append(("X-HTTP-Method-Override", rng.choice(choices)))
        if method == "GET" and rng.random() < 0.3:
            headers.append(("Range", rng.choice(["bytes=0-", "bytes=-1", "bytes=5-2", "bytes=0-0,2-3", "bytes=x",
                                                   "bytes=99999999999999999999-", "items=0-1"])))
        noise = self._noise(headers, protected)
        modes = ["exact"] * 4 + ["none", "longer", "shorter", "chunked", "chunked_bad", "chunked_cut",
                                 "te_and_cl", "two_cl", "odd_cl", "expect", "expect_silent", "headers_cut"]
        mode = rng.choice(modes)
        if protected is not None and protected.complete and mode in ("chunked_cut", "shorter", "expect_silent"):
            mode = "exact"  # a short body at a complete upload's own offset... never sent: offsets are wrong anyway
        return self._finish(method, target, headers, body, mode, f"{method[:20]} mode={mode} noise={noise}", protected)

    def refused_at_the_right_offset(self) -> Case:
        """The protected upload's own offset, plus one thing that must be refused before storing."""
        rng = self.rng
        p = rng.choice(self.protected)
        rest = len(p.data) - p.offset
        headers: list[Header] = [("Host", "x"), ("Tus-Resumable", "1.0.0"), ("Upload-Offset", str(p.offset))]
        body = rng.randbytes(rng.randint(1, max(1, min(rest, 2000))))
        kinds = ["too_large", "checksum", "content_type", "version", "no_version"]
        if not p.defer:
            kinds.append("other_length")
        else:
            kinds.append("length_below_offset")
        kind = rng.choice(kinds)
        headers.append(("Content-Type", OCTETS))
        if kind == "too_large":
            declared = rest + rng.randint(1, 1000) if not p.defer else 20_000_000_000
            headers.append(("Content-Length", str(declared)))
            # the server answers at once and then waits (lingers) for the declared rest: read one answer
            raw = serialize("PATCH", p.path, [*headers, ("Connection", "close")], body)
            return Case(raw, False, f"right offset, {kind}", p.path, answers=1)
        if kind == "checksum":
            if p.complete:
                body = b""
                headers[-1] = ("Content-Type", "text/plain")  # a complete upload: refuse by type instead
            else:
                headers.append(("Upload-Checksum", f"sha1 {b64(hashlib.sha1(body + b'!').digest())}"))
        elif kind == "content_type":
            headers[-1] = ("Content-Type", rng.choice(["text/plain", "application/octet-stream", OCTETS + "x"]))
        elif kind == "version":
            headers[1] = ("Tus-Resumable", rng.choice(["1.0.1", "0.2.2", "", "1"]))
        elif kind == "no_version":
            del headers[1]
        elif kind == "other_length":
            headers.append(("Upload-Length", str(len(p.data) + rng.randint(1, 10))))
        elif kind == "length_below_offset":
            headers.append(("Upload-Length", str(rng.randint(0, p.offset - 1))))
        headers += [("Content-Length", str(len(body))), ("Connection", "close")]
        return self._raw_case(serialize("PATCH", p.path, headers, body), f"right offset, {kind}", p)

    def _raw_case(self, raw: bytes, note: str, p: Protected | None = None, answers: int = 1) -> Case:
        return Case(raw, False, note, p.path if p else None, answers)

    def raw_garbage(self) -> Case:
        rng = self.rng
        host = "Host: x\r\nConnection: close\r\n"
        mine = rng.choice(self.mine) if self.mine else "/files/"
        kind = rng.randrange(16)
        if kind == 0:
            raw = rng.randbytes(rng.randint(1, 2000)) + b"\r\n\r\n"
        elif kind == 1:
            raw = f"OPTIONS /files/ {rng.choice(VERSIONS)}\r\n{host}\r\n".encode()
        elif kind == 2:
            raw = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        elif kind == 3:
            raw = f"GET /files/{'a' * rng.choice([8000, 9000, 70_000])} HTTP/1.1\r\n{host}\r\n".encode()
        elif kind == 4:
            raw = f"OPTIONS * HTTP/1.1\r\n{host}\r\n".encode()
        elif kind == 5:
            raw = f"HEAD http://x{mine} HTTP/1.1\r\nTus-Resumable: 1.0.0\r\n{host}\r\n".encode()
        elif kind == 6:
            raw = b"OPTIONS /files/ HTTP/1.1\nHost: x\nConnection: close\n\n"
        elif kind == 7:
            raw = b"OPTIONS /files/ HTTP/1.1\rHost: x\rConnection: close\r\r"
        elif kind == 8:
            raw = b"OPTIONS\t/files/\tHTTP/1.1\r\n" + host.encode() + b"\r\n"
        elif kind == 9:
            raw = b"OPTIONS /fi\x00les/ HTTP/1.1\r\n" + host.encode() + b"\r\n"
        elif kind == 10:
            raw = b"OPTIONS /files/ HTTP/1.1\r\nNoColonHere\r\n" + host.encode() + b"\r\n"
        elif kind == 11:
            method = rng.choice(ODD_METHODS)
            raw = f"{method} {rng.choice(['/files/', mine])} HTTP/1.1\r\nTus-Resumable: 1.0.0\r\n{host}\r\n".encode()
        elif kind == 12:
            raw = b"\r\n" * rng.randint(1, 2000) + f"OPTIONS /files/ HTTP/1.1\r\n{host}\r\n".encode()
        elif kind == 13:
            raw = f"OPTIONS /files/ HTTP/1.1\r\n{host}".encode() + b"".join(
                f"X-{i}: {'v' * 8000}\r\n".encode() for i in range(rng.choice([3, 40]))
            ) + b"\r\n"
        elif kind == 14:
            raw = b" OPTIONS /files/ HTTP/1.1\r\n" + host.encode() + b"\r\n"
        else:
            raw = f"GET {mine}?{'q=' + 'x' * 5000} HTTP/1.1\r\n{host}\r\n".encode()
        return self._raw_case(raw, f"garbage {kind}")

    def pipelined(self) -> Case:
        rng = self.rng
        p = rng.choice(self.protected)
        head = f"HEAD {p.path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n\r\n".encode()
        options = b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\n\r\n"
        last = b"OPTIONS /files/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        kind = rng.randrange(5)
        if kind == 0:
            raw = head * rng.randint(1, 20) + last
        elif kind == 1:
            raw = head + rng.randbytes(rng.randint(1, 500)) + b"\r\n\r\n"
        elif kind == 2 and self.mine:
            body = rng.randbytes(rng.randint(1, 3000))
            patch = (
                f"PATCH {rng.choice(self.mine)} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                f"Content-Type: {OCTETS}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            raw = patch + options * rng.randint(0, 5) + last
        elif kind == 3:
            length = rng.randint(0, 99)
            post = f"POST /files/ HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Length: {length}\r\n\r\n"
            raw = post.encode() * rng.randint(1, 5) + last
        else:
            wrong = self.wrong_offset(p)
            patch = (
                f"PATCH {p.path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {wrong}\r\n"
                f"Content-Type: {OCTETS}\r\nContent-Length: 3\r\n\r\nabc"
            ).encode()
            raw = patch * rng.randint(1, 10) + last
        return self._raw_case(raw, f"pipelined {kind}", p, answers=0)
