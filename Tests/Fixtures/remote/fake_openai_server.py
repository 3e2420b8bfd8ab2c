#!/usr/bin/env python3
"""A tiny OpenAI-compatible server for the remote client's tests.

Binds 127.0.0.1 on a free port and prints "PORT <n>" on its first line. The model id
picks the behaviour:
  echo       streams "echo of N messages (roles): <last user text>" word by word, then usage
  sparky     as echo, each chunk with x_sparkchat stats (as `sparkchat serve` sends them)
  slow       200 pieces "tick ", one every 50 ms (for cancelling)
  cut        three pieces, then the connection is closed mid-stream
  malformed  two pieces, then an event that is not JSON
  stall      one piece, then silence (for the idle time limit)
  error-NNN  answers HTTP NNN with OpenAI's error JSON
any other   404 "model not found"
Options: --api-key KEY (every request needs "Authorization: Bearer KEY"),
         --models-delay S (GET /v1/models answers after S seconds).
"""
import argparse
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS = ["echo", "sparky", "slow", "cut", "malformed", "stall",
          "error-401", "error-403", "error-429", "error-500", "error-503"]
ARGS = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, message):
        self.send_json(code, {"error": {"message": message, "type": "test_error", "code": code}})

    def authorized(self):
        if ARGS.api_key and self.headers.get("Authorization") != "Bearer " + ARGS.api_key:
            self.error(401, "invalid api key")
            return False
        return True

    def do_GET(self):
        if not self.authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            time.sleep(ARGS.models_delay)
            self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "fake", "max_model_len": 4096} for m in MODELS]})
        elif self.path == "/health":
            self.send_json(200, {"status": "ok"})
        else:
            self.error(404, "no such path")

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def event(self, obj):
        self.chunk(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")

    def piece(self, text, chat, stats=None, finish=None):
        choice = {"index": 0, "finish_reason": finish}
        if chat:
            choice["delta"] = {"content": text} if text else {}
        else:
            choice["text"] = text
        obj = {"id": "x", "object": "chat.completion.chunk" if chat else "text_completion", "choices": [choice]}
        if stats:
            obj["x_sparkchat"] = stats
        self.event(obj)

    def do_POST(self):
        if not self.authorized():
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(length))
        except ValueError:
            return self.error(400, "malformed JSON")
        chat = self.path.rstrip("/") == "/v1/chat/completions"
        if not chat and self.path.rstrip("/") != "/v1/completions":
            return self.error(404, "no such path")
        model = req.get("model", "")
        if model.startswith("error-") and model in MODELS:
            code = int(model[6:])
            return self.error(code, {401: "invalid api key", 403: "forbidden", 429: "too many requests",
                                     500: "internal error", 503: "overloaded"}[code])
        if model not in MODELS:
            return self.error(404, "model %s not found" % model)
        if not req.get("stream"):
            return self.error(400, "this fake only streams")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self.stream(model, req, chat)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def stream(self, model, req, chat):
        if chat:
            msgs = req.get("messages", [])
            last = next((m["content"] for m in reversed(msgs) if m.get("role") == "user"), "")
            text = "echo of %d messages (%s): %s" % (len(msgs), ",".join(m.get("role", "?") for m in msgs), last)
            prompt_tokens = sum(len(m.get("content", "").split()) for m in msgs)
        else:
            text = "echo: " + req.get("prompt", "")
            prompt_tokens = len(req.get("prompt", "").split())
        self.chunk(b": keep-alive comment\n\n")
        if model in ("echo", "sparky"):
            words = text.split(" ")
            limit = req.get("max_tokens") or len(words)
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)][:limit]
            for i, p in enumerate(pieces):
                stats = {"ffn_active": 100 + i, "ffn_total": 400, "attended": 10 + i,
                         "flops": 1.0e6, "flops_dense": 2.0e6} if model == "sparky" else None
                self.piece(p, chat, stats)
                time.sleep(0.02)
            self.piece("", chat, finish="length" if len(pieces) < len(words) else "stop")
            if (req.get("stream_options") or {}).get("include_usage"):
                self.event({"id": "x", "choices": [], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": len(pieces),
                    "total_tokens": prompt_tokens + len(pieces)}})
            self.event(b"[DONE]")
            self.chunk(b"")
        elif model == "slow":
            for _ in range(200):
                self.piece("tick ", chat)
                time.sleep(0.05)
            self.piece("", chat, finish="stop")
            self.event(b"[DONE]")
            self.chunk(b"")
        elif model == "cut":
            for w in ["partial", " reply", " so"]:
                self.piece(w, chat)
                time.sleep(0.02)
            # Gone mid-stream: no finish, no [DONE], no last chunk.
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif model == "malformed":
            self.piece("good", chat)
            self.piece(" start", chat)
            self.event(b"{this is not json")
            time.sleep(0.5)
            self.chunk(b"")
        elif model == "stall":
            self.piece("waiting", chat)
            time.sleep(30)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-key")
    ap.add_argument("--models-delay", type=float, default=0)
    ARGS = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
