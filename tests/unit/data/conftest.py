"""Loopback HTTP server for the fetch tests: the one thing outside the machine is the
dataset host, faked at its protocol boundary."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import pytest


def build_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-tiny/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n2,1,3.0,964982800\n")
        zf.writestr("ml-tiny/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n")
        zf.writestr("ml-tiny/padding.bin", bytes(range(256)) * 400)  # large enough to be cut mid-way
    return buf.getvalue()


class ArchiveServer:
    """Serves one payload; honours Range requests; can cut the first response short."""

    def __init__(self, payload: bytes, cut_first_response_at: int | None = None):
        self.payload = payload
        self.cut_at = cut_first_response_at
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if self.path.endswith(".md5"):
                    body = f"MD5 (tiny.zip) = {hashlib.md5(server.payload).hexdigest()}\n".encode()
                    self._send(200, body, len(body))
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                body = server.payload[start:]
                status = 206 if start else 200
                if server.cut_at is not None and len(server.requests) == 1:
                    self._send(status, body[: server.cut_at], len(body))  # promise more than we send
                    self.close_connection = True
                    return
                self._send(status, body, len(body))

            def _send(self, status, body, length):
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tiny.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def tiny_zip() -> bytes:
    return build_zip()


@pytest.fixture
def archive_server():
    """A factory: `with archive_server(payload) as server:` serves payload at server.url."""
    return ArchiveServer
