"""A local OpenAI-compatible server (127.0.0.1, random port) standing in for a remote LLM
endpoint at its protocol boundary: POST /v1/chat/completions, scriptable per request to
time out, answer 429 (with Retry-After), 500, 401, a malformed or truncated body, any raw
status/body/content type, or a chosen reply. By default it answers every task with a
well-formed reply computed from the request. Used by tests/integration/augment and
tests/faults."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def well_formed_reply(body: dict) -> str:
    """What a competent model would answer, derived from the request itself."""
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if system.startswith("You describe catalogue items"):
        data = json.loads(re.search(r"<item>(.*)</item>", user, re.S).group(1))
        title = data.get("title", "item")
        return ("Here you go:\n```json\n" + json.dumps({
            "description": f"A well made {title.lower()} for everyday use.",
            "keywords": ["everyday", "quality", "gift"],
            "attributes": {"audience": "adults", "style": "modern"},
        }) + "\n```")
    if system.startswith("You summarise a user's taste"):
        return json.dumps({"profile": "Enjoys outdoor gear and running. Prefers practical items."})
    return json.dumps({"positive": 1, "negative": 2})


class LLMServer:
    """Scripted chat-completions server. `plan` holds actions consumed one per request;
    when it is empty, `default` decides (a callable body -> reply text)."""

    def __init__(self):
        self.plan: deque = deque()
        self.default = well_formed_reply
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    action = server.plan.popleft() if server.plan else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                self._in_flight = True
                try:
                    self._answer(action, body)
                finally:
                    self._done()

            def _done(self):
                """The request stops counting as in flight before its reply goes out: a client
                that got the reply may send its next request before this thread runs again."""
                if self._in_flight:
                    self._in_flight = False
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, action, body):
                if server.delay:
                    time.sleep(server.delay)
                if action == "timeout":
                    server._stop.wait(3.0)  # longer than the client's timeout in the tests
                    return
                if isinstance(action, tuple) and action[0] == "status":
                    _, status, headers = action
                    return self._send(status, b'{"error": {"message": "scripted"}}', headers)
                if action == "malformed":
                    return self._send(200, b'{"choices": [{"message": {"content": "unterminated')
                if action == "no_choices":
                    return self._send(200, b'{"object": "chat.completion", "choices": []}')
                if isinstance(action, tuple) and action[0] == "raw":  # any status, body and content type
                    _, status, data, content_type = action
                    return self._send(status, data, {"Content-Type": content_type})
                if isinstance(action, tuple) and action[0] == "truncated":  # promises more bytes than it sends
                    return self._send(200, action[1], {"Content-Length": str(len(action[1]) + 100)}, close=True)
                text = action[1] if isinstance(action, tuple) and action[0] == "reply" else server.default(body)
                payload = {
                    "id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(json.dumps(body["messages"])) // 4, "completion_tokens": len(text) // 4},
                }
                self._send(200, json.dumps(payload).encode())

            def _send(self, status, data, headers=None, close=False):
                self._done()
                headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
                if close:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> "LLMServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
