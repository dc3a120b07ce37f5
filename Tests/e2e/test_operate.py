"""Operating the gateway: SIGTERM lets requests in flight finish and exits 0; the log has one
line per request with what an operator needs, in text or JSON, and never a secret, a
signature, a customer key or object content."""
import base64
import hashlib
import http.client
import json
import os
import signal
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from conftest import Server

MARKER = b"operate plaintext marker 5d2e "


def signed_headers(server, method, path, body):
    """SigV4 headers for a request whose body is then sent by hand, piece by piece."""
    request = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=body,
                                             headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    headers["Content-Length"] = str(len(body))
    return headers


def test_sigterm_lets_a_request_in_flight_finish_and_exits_0():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="bkt")
        body = os.urandom(3 << 20)
        parsed = urllib.parse.urlsplit(server.endpoint)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        connection.putrequest("PUT", "/bkt/in-flight", skip_accept_encoding=True, skip_host=True)
        connection.putheader("Host", parsed.netloc)
        for name, value in signed_headers(server, "PUT", "/bkt/in-flight", body).items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(body[:1 << 20])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # The gateway no longer accepts connections, but the request in flight goes on.
        with pytest.raises(OSError):
            http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5).request("GET", "/")
        connection.send(body[1 << 20:])
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert server.process.wait(timeout=30) == 0
        log = open(os.path.join(server.dir, "serve.log")).read()
        assert "stopped" in log, log
        server.start()
        assert server.client().get_object(Bucket="bkt", Key="in-flight")["Body"].read() == body
    finally:
        server.stop()


def test_request_lines_and_no_secret_in_the_log():
    server = Server("--log-format", "json", "--log-level", "debug")
    try:
        s3 = server.client()
        signatures = []

        def capture(request, **_):
            authorization = request.headers.get("Authorization", b"")
            authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
            if "Signature=" in authorization:
                signatures.append(authorization.split("Signature=")[1])

        s3.meta.events.register("before-send", capture)
        customer_key = b"operate customer key, 32 bytes!!"
        sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key.decode()}
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="plain", Body=MARKER * 100)
        s3.put_object(Bucket="logged", Key="secret", Body=MARKER * 50, **sse_c)
        assert s3.get_object(Bucket="logged", Key="plain")["Body"].read() == MARKER * 100
        s3.get_object(Bucket="logged", Key="secret", **sse_c)["Body"].read()
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "logged", "Key": "plain"})
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        presigned = (query.get("X-Amz-Signature") or query["Signature"])[0]
        parsed = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        connection.request("GET", parsed.path + "?" + parsed.query)
        assert connection.getresponse().read() == MARKER * 100
        try:
            s3.get_object(Bucket="logged", Key="missing")
        except s3.exceptions.NoSuchKey:
            pass
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0
        lines = [json.loads(line) for line in open(os.path.join(server.dir, "serve.log")) if line.strip()]
        requests = [line for line in lines if line["message"] == "request"]
        by_operation = {}
        for line in requests:
            by_operation.setdefault(line["operation"], []).append(line)
            assert {"time", "level", "request", "key", "operation", "status", "in", "out", "ms"} <= set(line), line
            assert line["key"] == server.access_key and line["level"] == "info"
        assert [l["status"] for l in by_operation["PutObject"]] == ["200", "200"]
        assert by_operation["PutObject"][0]["in"] == str(len(MARKER * 100)) and by_operation["PutObject"][0]["bucket"] == "logged"
        gets = by_operation["GetObject"]
        assert sorted(l["status"] for l in gets) == ["200", "200", "200", "404"], gets
        assert str(len(MARKER * 100)) in [l["out"] for l in gets]
        secrets = [server.secret_key, base64.b64encode(customer_key).decode(), customer_key.decode(),
                   base64.b64encode(hashlib.md5(customer_key).digest()).decode(), MARKER.decode().strip(), presigned] + signatures
        assert len(signatures) >= 6
        text = open(os.path.join(server.dir, "serve.log")).read()
        for secret in secrets:
            assert secret not in text, secret
    finally:
        server.stop()
