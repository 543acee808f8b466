#!/usr/bin/env python3
"""A proxy in front of moto (the EC2 API) that behaves more like EC2, for kiln's tests and
benchmarks.

moto changes state at once; EC2 takes its time. With --lag N each state transition the proxy
sees is held for N seconds: a new instance stays "pending", a stopped one "stopping", a
terminated one "shutting-down" and a new image "pending", in what DescribeInstances and
DescribeImages answer. It can also fail one call on purpose (a 400 error the SDK does not
retry), to test what a build leaves behind when any call fails.

Control (JSON over HTTP, on the proxy's own port):
  POST /__proxy/config  {"lag": seconds, "fail_at": n or null, "fail_count": 1,
                         "fail_action": name or null, "fail_code": code,
                         "fail_message": text, "delay": seconds}
                        resets the call log; calls fail_at .. fail_at+fail_count-1 fail
                        (or the first fail_count calls of the action fail_action, however
                        concurrent calls are ordered) with fail_code (InjectedFault) and
                        fail_message;
                        every call answers after `delay` (a slow API)
  GET  /__proxy/calls   the actions called since the last config, in order
  GET  /__proxy/requests  the same calls with their parameters and the access key id that
                        signed them, and when each arrived and was answered (epoch seconds;
                        null while in flight): [{"action", "params": {name: value}, "key",
                        "started", "ended"}]

Instance metadata (/latest/..., IMDS) passes through to moto's, with the TTL header a real
IMDSv2 puts on a token (moto leaves it out, and the AWS SDKs refuse a token without it): point
AWS_EC2_METADATA_SERVICE_ENDPOINT here.

The SSO portal's GetRoleCredentials (GET /federation/credentials), which moto lacks, is answered
here with the role's keys ASIASSOPORTAL0000 / sso-secret / sso-token, and recorded as a call
with its account_id, role_name and bearer token: point AWS_ENDPOINT_URL_SSO here.

Vault's AWS secrets engine (GET /v1/MOUNT/creds/NAME), which no package here provides, is
answered here for the token kiln-vault-token, and recorded as the call VaultReadCreds with the
path, query (role_arn, ttl), token and namespace: an IAM user's keys AKIAVAULTUSER0000 /
vault-user-secret (no session token, a 768 h lease), or with a role_arn an assumed role's
ASIAVAULTROLE0000 / vault-role-secret / vault-role-token (a lease of ttl seconds, default 3600).
Another token gets 403 "permission denied", the role "missing" a 400 as Vault answers; a
fail_action of VaultReadCreds answers 503. With "vault_propagation": N in the config, the IAM
user keys are refused (401 AuthFailure, as EC2 refuses keys IAM has not spread yet) for N
seconds after each read. Its KV engines hold one secret, "app" (password
kv-Pa55-w0rd, user deploy): version 2 at /v1/secret/data/app, version 1 at /v1/kv/app; reads
are recorded as VaultRead with the path and token; other paths answer 404 with no errors.
Each creds read gets a lease of its own (MOUNT/creds/NAME/ID), live until revoked through
PUT /v1/sys/leases/revoke {"lease_id": ...}, recorded as VaultRevoke with the lease and token
and answered 204 (for a lease that is gone too, as Vault does); "vault_revoke_denied": true in
the config answers it 403. GET /__proxy/vault-leases lists the live leases.

STS's DecodeAuthorizationMessage, which moto lacks, is answered here: the decoded message is
{"allowed": false, "encoded": ENCODED} (the faults above stand in for EC2's encoded
authorization failures).

Usage: ec2-proxy.py --upstream http://127.0.0.1:MOTO_PORT [--port 0] [--lag 0] [--trace FILE]
                    [--tls CERT KEY]
Prints "listening on PORT" once ready. With --tls it also answers HTTPS (the certificate and
key in PEM) on a second port, with the same state, and prints "tls on PORT" next.
"""
import argparse
import html
import http.server
import json
import re
import socketserver
import threading
import time
import urllib.error
import urllib.parse
import uuid
import urllib.request

LOCK = threading.Lock()
TRACE = ""
STATE = {"lag": 0.0, "delay": 0.0, "fail_at": None, "fail_code": "InjectedFault", "fail_count": 1, "fail_message": "", "fail_action": None, "vault_propagation": 0.0, "vault_read_at": 0.0, "vault_revoke_denied": False, "vault_leases": [], "calls": [], "requests": []}
# resource id -> (state name, code or None, until)
HELD = {}


def action_of(path, body):
    for text in (body.decode("utf-8", "replace"), urllib.parse.urlsplit(path).query):
        params = urllib.parse.parse_qs(text)
        if "Action" in params:
            return params["Action"][0], params
    return "", {}


def ids(params, prefix):
    return [v[0] for k, v in params.items() if k.startswith(prefix)]


def hold(resource, state, code, lag):
    if lag > 0:
        HELD[resource] = (state, code, time.time() + lag)


def rewrite(action, xml):
    """Shows held resources in their intermediate state."""
    now = time.time()
    held = {r: v for r, v in HELD.items() if v[2] > now}
    if not held:
        return xml
    if action == "DescribeInstances":
        def fix(m):
            rid = m.group(1)
            if rid not in held or held[rid][1] is None:
                return m.group(0)
            state, code, _ = held[rid]
            rest = re.sub(r"<instanceState>.*?</instanceState>",
                          f"<instanceState><code>{code}</code><name>{state}</name></instanceState>",
                          m.group(2), count=1, flags=re.S)
            return f"<instanceId>{rid}</instanceId>{rest}"
        return re.sub(r"<instanceId>(i-[0-9a-f]+)</instanceId>(.*?</instanceState>)", fix, xml, flags=re.S)
    if action == "DescribeImages":
        def fix_image(m):
            rid = m.group(1)
            if rid not in held:
                return m.group(0)
            return re.sub(r"<imageState>\w+</imageState>", f"<imageState>{held[rid][0]}</imageState>",
                          m.group(0), count=1)
        return re.sub(r"<imageId>(ami-[0-9a-f]+)</imageId>.*?</imageState>", fix_image, xml, flags=re.S)
    return xml


def record(action, params, xml, lag):
    """Starts holding what this call changed."""
    if action == "RunInstances":
        for rid in re.findall(r"<instanceId>(i-[0-9a-f]+)</instanceId>", xml):
            hold(rid, "pending", 0, lag)
    elif action == "StopInstances":
        for rid in ids(params, "InstanceId."):
            hold(rid, "stopping", 64, lag)
    elif action == "StartInstances":
        for rid in ids(params, "InstanceId."):
            hold(rid, "pending", 0, lag)
    elif action == "TerminateInstances":
        for rid in ids(params, "InstanceId."):
            hold(rid, "shutting-down", 32, lag)
    elif action in ("CreateImage", "RegisterImage", "CopyImage"):
        for rid in re.findall(r"<imageId>(ami-[0-9a-f]+)</imageId>", xml):
            hold(rid, "pending", None, lag)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK (40 ms a call on loopback), a stall EC2 does not have.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/xml", extra=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def control(self, body):
        if self.command == "POST" and self.path == "/__proxy/config":
            cfg = json.loads(body or b"{}")
            with LOCK:
                STATE["lag"] = float(cfg.get("lag", STATE["lag"]))
                STATE["fail_at"] = cfg.get("fail_at")
                STATE["fail_action"] = cfg.get("fail_action")
                STATE["fail_code"] = cfg.get("fail_code") or "InjectedFault"
                STATE["fail_count"] = int(cfg.get("fail_count") or 1)
                STATE["fail_message"] = cfg.get("fail_message") or ""
                STATE["delay"] = float(cfg.get("delay", 0.0))
                STATE["vault_propagation"] = float(cfg.get("vault_propagation", 0.0))
                STATE["vault_revoke_denied"] = bool(cfg.get("vault_revoke_denied", False))
                STATE["calls"] = []
                STATE["requests"] = []
            return self.reply(200, "{}", "application/json")
        if self.path == "/__proxy/calls":
            with LOCK:
                calls = list(STATE["calls"])
            return self.reply(200, json.dumps(calls), "application/json")
        if self.path == "/__proxy/vault-leases":
            with LOCK:
                leases = list(STATE["vault_leases"])
            return self.reply(200, json.dumps(leases), "application/json")
        if self.path == "/__proxy/requests":
            with LOCK:
                requests = list(STATE["requests"])
            return self.reply(200, json.dumps(requests), "application/json")
        return self.reply(404, "not a proxy control path", "text/plain")

    def metadata(self, body):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.upstream + self.path, data=body or None,
                                     headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        extra = []
        if self.path == "/latest/api/token" and code == 200:
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "21600")
            extra.append(("X-aws-ec2-metadata-token-ttl-seconds", ttl))
        return self.reply(code, data, "text/plain", extra)

    def sso_role_credentials(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        params = {k: v[0] for k, v in query.items()}
        params["bearer"] = self.headers.get("x-amz-sso_bearer_token", "")
        with LOCK:
            STATE["calls"].append("GetRoleCredentials")
            STATE["requests"].append({"action": "GetRoleCredentials", "params": params, "key": ""})
        expires = int((time.time() + 3600) * 1000)
        return self.reply(200, json.dumps({"roleCredentials": {
            "accessKeyId": "ASIASSOPORTAL0000", "secretAccessKey": "sso-secret",
            "sessionToken": "sso-token", "expiration": expires}}), "application/json")

    KV = {"app": {"password": "kv-Pa55-w0rd", "user": "deploy"}}

    def vault_kv(self, url):
        token = self.headers.get("X-Vault-Token", "")
        with LOCK:
            STATE["calls"].append("VaultRead")
            STATE["requests"].append({"action": "VaultRead", "key": "",
                                      "params": {"path": url.path, "token": token}})
        def answer(code, doc):
            return self.reply(code, json.dumps(doc), "application/json")
        if token != "kiln-vault-token":
            return answer(403, {"errors": ["permission denied"]})
        v2 = re.fullmatch(r"/v1/secret/data/(.+)", url.path)
        v1 = re.fullmatch(r"/v1/kv/(.+)", url.path)
        name = (v2 or v1).group(1) if (v2 or v1) else None
        if name not in self.KV:
            return answer(404, {"errors": []})
        data = {"data": self.KV[name], "metadata": {"version": 1}} if v2 else self.KV[name]
        return answer(200, {"request_id": "proxy", "lease_id": "", "renewable": False,
                            "lease_duration": 0 if v2 else 2764800, "data": data,
                            "warnings": None, "auth": None})

    def vault_revoke(self, body):
        token = self.headers.get("X-Vault-Token", "")
        try:
            lease = json.loads(body or b"{}").get("lease_id", "")
        except ValueError:
            lease = ""
        with LOCK:
            STATE["calls"].append("VaultRevoke")
            STATE["requests"].append({"action": "VaultRevoke", "key": "",
                                      "params": {"lease_id": lease, "token": token}})
            denied = STATE["vault_revoke_denied"]
        def errors(code, *messages):
            return self.reply(code, json.dumps({"errors": list(messages)}), "application/json")
        if self.command not in ("PUT", "POST"):
            return errors(405, "unsupported operation")
        if token != "kiln-vault-token" or denied:
            return errors(403, "permission denied")
        if not lease:
            return errors(400, "lease_id is required")
        with LOCK:
            if lease in STATE["vault_leases"]:
                STATE["vault_leases"].remove(lease)
        self.send_response(204)
        self.end_headers()

    def vault_creds(self):
        url = urllib.parse.urlparse(self.path)
        if "/creds/" not in url.path:
            return self.vault_kv(url)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        params.update(path=url.path, token=self.headers.get("X-Vault-Token", ""),
                      namespace=self.headers.get("X-Vault-Namespace", ""))
        with LOCK:
            STATE["calls"].append("VaultReadCreds")
            STATE["requests"].append({"action": "VaultReadCreds", "params": params, "key": ""})
            fail = (STATE["fail_action"] == "VaultReadCreds"
                    and STATE["calls"].count("VaultReadCreds") <= STATE["fail_count"])
        def errors(code, *messages):
            return self.reply(code, json.dumps({"errors": list(messages)}), "application/json")
        if fail:
            return errors(503, "Vault is sealed")
        if params["token"] != "kiln-vault-token":
            return errors(403, "permission denied")
        role = re.fullmatch(r"/v1/.+/creds/([^/]+)", url.path)
        if not role or role.group(1) == "missing":
            return errors(400, 'Role "%s" not found' % (role.group(1) if role else ""))
        if "role_arn" in params:
            ttl = int(params.get("ttl", "3600").rstrip("s"))
            data = {"access_key": "ASIAVAULTROLE0000", "secret_key": "vault-role-secret",
                    "security_token": "vault-role-token"}
        else:
            ttl = 768 * 3600
            data = {"access_key": "AKIAVAULTUSER0000", "secret_key": "vault-user-secret",
                    "security_token": None}
            with LOCK:
                STATE["vault_read_at"] = time.time()
        lease = "%s/%s" % (url.path[4:], uuid.uuid4().hex[:24])
        with LOCK:
            STATE["vault_leases"].append(lease)
        return self.reply(200, json.dumps({
            "request_id": "proxy", "lease_id": lease, "renewable": True,
            "lease_duration": ttl, "data": data, "wrap_info": None, "warnings": None,
            "auth": None}), "application/json")

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        if self.path.startswith("/latest/"):
            return self.metadata(body)
        if self.path.startswith("/federation/credentials"):
            return self.sso_role_credentials()
        if self.path.startswith("/v1/sys/leases/revoke"):
            return self.vault_revoke(body)
        if self.path.startswith("/v1/"):
            return self.vault_creds()
        action, params = action_of(self.path, body)
        started = time.time()
        with LOCK:
            STATE["calls"].append(action)
            signer = re.search(r"Credential=([^/,]+)/", self.headers.get("Authorization", ""))
            entry = {"action": action, "params": {k: v[0] for k, v in params.items()},
                     "key": signer.group(1) if signer else "", "started": started, "ended": None}
            STATE["requests"].append(entry)
            n = len(STATE["calls"])
            at = STATE["fail_at"]
            fail = at is not None and at <= n < at + STATE["fail_count"]
            if STATE["fail_action"] == action:
                fail = STATE["calls"].count(action) <= STATE["fail_count"]
            fail_code = STATE["fail_code"]
            fail_message = STATE["fail_message"] or f"fault injected at call {n} ({action})"
            unknown_key = (entry["key"] == "AKIAVAULTUSER0000"
                           and started < STATE["vault_read_at"] + STATE["vault_propagation"])
            lag = STATE["lag"]
            delay = STATE["delay"]
        if delay:
            time.sleep(delay)
        if action == "DecodeAuthorizationMessage" and not fail:
            decoded = json.dumps({"allowed": False, "encoded": params.get("EncodedMessage", [""])[0]})
            return self.reply(200, (
                '<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<DecodeAuthorizationMessageResult><DecodedMessage>{html.escape(decoded)}</DecodedMessage>"
                "</DecodeAuthorizationMessageResult><ResponseMetadata><RequestId>proxy</RequestId>"
                "</ResponseMetadata></DecodeAuthorizationMessageResponse>"))
        if unknown_key:
            with LOCK:
                entry["ended"] = time.time()
                entry["refused"] = "AuthFailure"
            return self.reply(401, (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                "<Code>AuthFailure</Code><Message>AWS was not able to validate the provided "
                "access credentials</Message></Error></Errors><RequestID>proxy</RequestID></Response>"))
        if fail:
            with LOCK:
                entry["ended"] = time.time()
            message = html.escape(fail_message)
            scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", self.headers.get("Authorization", ""))
            if scope and scope.group(1) != "ec2":
                # IAM and STS answer errors in the awsQuery form.
                return self.reply(400, (
                    '<ErrorResponse><Error><Type>Sender</Type>'
                    f"<Code>{fail_code}</Code><Message>{message}</Message></Error>"
                    "<RequestId>injected</RequestId></ErrorResponse>"))
            return self.reply(400, (
                '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                f"<Code>{fail_code}</Code><Message>{message}</Message>"
                "</Error></Errors><RequestID>injected</RequestID></Response>"))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.upstream + self.path, data=body if body else None,
                                     headers=headers, method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                code, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "text/xml")
        except urllib.error.HTTPError as e:
            code, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
        text = data.decode("utf-8", "replace")
        with LOCK:
            if code == 200:
                record(action, params, text, lag)
                text = rewrite(action, text)
            entry["ended"] = time.time()
        if TRACE:
            with LOCK, open(TRACE, "a") as f:
                f.write(f"{started:.3f} {time.time():.3f} {action} {code}\n")
        return self.reply(code, text, ctype)

    do_GET = do_POST = do_PUT = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the tests kill kiln on purpose) is not an error here.
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lag", type=float, default=0.0)
    ap.add_argument("--trace", default="", help="append 'start end action status' per call to this file")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="also answer HTTPS")
    a = ap.parse_args()
    global TRACE
    TRACE = a.trace
    STATE["lag"] = a.lag
    Handler.upstream = a.upstream.rstrip("/")
    srv = Server(("127.0.0.1", a.port), Handler)
    print(f"listening on {srv.server_address[1]}", flush=True)
    if a.tls:
        import ssl
        tls = Server(("127.0.0.1", 0), Handler)
        cx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cx.load_cert_chain(*a.tls)
        tls.socket = cx.wrap_socket(tls.socket, server_side=True)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
        print(f"tls on {tls.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
