#!/usr/bin/env python3
"""A stand-in for Consul's KV HTTP API, for kiln's tests of the consul_key template function:
no Consul server is packaged here (apt or PyPI). It answers what Consul's own client asks:

  PUT /v1/kv/KEY            stores the request body as the key's value (answers true)
  GET /v1/kv/KEY            200 [{"Key": KEY, "Value": base64 or null, "Flags": 0, ...}],
                            404 with an empty body when there is no such key

with the namespace of ?ns= (Consul Enterprise) kept apart. With --token, a request without
that token (X-Consul-Token, or ?token=) gets 403 "Permission denied", as a Consul with ACLs
answers. GET /__requests lists the requests (method, path, query, token, basic-auth user).

Usage: consul-kv.py [--port 0] [--token TOKEN]; prints "listening on PORT".
"""
import argparse
import base64
import http.server
import json
import socketserver
import threading
import urllib.parse

LOCK = threading.Lock()
KV = {}
REQUESTS = []


class Handler(http.server.BaseHTTPRequestHandler):
    token = ""

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlparse(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        if url.path == "/__requests":
            with LOCK:
                return self.reply(200, json.dumps(REQUESTS).encode())
        token = self.headers.get("X-Consul-Token") or query.get("token", "")
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode(errors="replace")
        with LOCK:
            REQUESTS.append({"method": self.command, "path": url.path, "query": query,
                             "token": token, "auth": user})
        if not url.path.startswith("/v1/kv/"):
            return self.reply(404, b"Invalid URL path", "text/plain")
        if self.token and token != self.token:
            return self.reply(403, b"Permission denied", "text/plain")
        key = (query.get("ns", ""), urllib.parse.unquote(url.path[len("/v1/kv/"):]))
        if self.command == "PUT":
            with LOCK:
                KV[key] = body
            return self.reply(200, b"true")
        if self.command != "GET":
            return self.reply(405, b"method not allowed", "text/plain")
        with LOCK:
            value = KV.get(key)
        if value is None:
            return self.reply(404, extra=[("X-Consul-Index", "1")])
        entry = {"LockIndex": 0, "Key": key[1], "Flags": 0,
                 "Value": base64.b64encode(value).decode() if value else None,
                 "CreateIndex": 1, "ModifyIndex": 1}
        return self.reply(200, json.dumps([entry]).encode(), extra=[("X-Consul-Index", "1")])

    do_GET = do_PUT = do_POST = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="")
    a = ap.parse_args()
    Handler.token = a.token
    srv = Server(("127.0.0.1", a.port), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
