"""A small OpenAI-compatible chat completions server, real HTTP/1.1 on 127.0.0.1.

For the connector tests and benchmarks_connectors: `POST /v1/chat/completions` answers like
OpenAI (`choices[0].message.content`, `usage`), `GET /v1/models` lists one model. Keep-alive
connections, asyncio, no framework. The default reply echoes the last user message; a test
sets `server.behaviour(request) -> Reply` to answer otherwise (429 with Retry-After, a
non-JSON body, ...). Every request is recorded (`server.requests`), and every accepted TCP
connection counted (`server.connections`).

In a test: `with OpenAIServer() as server: server.base_url`. As a process (the benchmark):
`python tests/connectors/openai_server.py --delay 0.01` prints `port N` and serves until
killed (`--reply TEXT`: every completion's content, e.g. a judge's JSON verdict).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: int = 0  # which TCP connection (1, 2, ... in accept order) it came on
    at: float = field(default_factory=time.monotonic)

    def json(self):
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: object = None  # a dict/list (sent as JSON), str or bytes (sent as is)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def completion(content: str | None, *, prompt_tokens: int = 7, completion_tokens: int = 3) -> dict:
    """A chat completions reply body, the way OpenAI shapes it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def echo(request: Request) -> Reply:
    messages = request.json()["messages"]
    return Reply(body=completion(messages[-1]["content"]))


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


class OpenAIServer:
    def __init__(self, delay: float = 0.0, port: int = 0) -> None:
        self.delay = delay
        self.port = port
        self.behaviour: Callable[[Request], Reply] = echo
        self.requests: list[Request] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]
        if ready:
            ready()
        async with self.server:
            await self.server.serve_forever()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        with self.lock:
            self.connections += 1
            number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                request = Request(method, path, headers, body, number)
                with self.lock:
                    self.requests.append(request)
                reply = self._reply(request)
                if reply.delay or self.delay:
                    await asyncio.sleep(reply.delay or self.delay)
                payload = reply.body
                if not isinstance(payload, bytes):
                    payload = (
                        payload if isinstance(payload, str) else json.dumps(payload)
                    ).encode()
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write(
                    f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n"
                    f"{extra}\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _reply(self, request: Request) -> Reply:
        if request.method == "GET" and request.path.endswith("/models"):
            return Reply(body={"object": "list", "data": [{"id": "test-model", "object": "model"}]})
        if request.method == "POST" and request.path.endswith("/chat/completions"):
            try:
                return self.behaviour(request)
            except Exception as error:  # a test's behaviour failing is a 500, not a hang
                return Reply(500, {"error": {"message": repr(error)}})
        return Reply(404, {"error": {"message": f"no route {request.method} {request.path}"}})

    # in a thread (tests)

    def __enter__(self) -> OpenAIServer:
        ready = threading.Event()
        self.loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self.serve(ready.set))
            except asyncio.CancelledError:
                pass

        self.thread = threading.Thread(target=run, name="openai-server", daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        def shutdown() -> None:
            self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()

        self.loop.call_soon_threadsafe(shutdown)
        self.thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--reply", help="answer every chat completion with this content")
    args = parser.parse_args()
    server = OpenAIServer(delay=args.delay, port=args.port)
    if args.reply is not None:
        body = completion(args.reply)
        server.behaviour = lambda request: Reply(body=body)

    def ready() -> None:
        print(f"port {server.port}", flush=True)

    try:
        asyncio.run(server.serve(ready))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
