"""Graceful shutdown and virtual-hosted style against a real `nuage serve`."""
import hashlib
import http.client
import os
import signal
import socket
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from conftest import Server


def signed_headers(server, method, url, body_hash, body=b""):
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    request.headers["x-amz-content-sha256"] = body_hash
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return request.headers


def test_sigterm_during_an_upload_commits_nothing_and_exits():
    server = Server()
    try:
        server.client().create_bucket(Bucket="shutdown")
        size = 8 << 20
        parsed = urllib.parse.urlsplit(server.endpoint)
        headers = signed_headers(server, "PUT", server.endpoint + "/shutdown/half", "UNSIGNED-PAYLOAD")
        sock = socket.create_connection((parsed.hostname, parsed.port))
        head = f"PUT /shutdown/half HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: {size}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items() if name.lower() != "host") + "\r\n"
        sock.sendall(head.encode() + os.urandom(size // 2))
        server.process.send_signal(signal.SIGTERM)
        sock.close()  # the client goes away mid-body
        assert server.process.wait(timeout=30) is not None, "the server exited"
        server.start()
        client = server.client()
        assert "Contents" not in client.list_objects_v2(Bucket="shutdown"), "nothing half-committed"
        # The server still serves, and the interrupted write left no blob behind after gc.
        client.put_object(Bucket="shutdown", Key="after", Body=b"ok")
        assert client.get_object(Bucket="shutdown", Key="after")["Body"].read() == b"ok"
        client.delete_object(Bucket="shutdown", Key="after")
        server.run("gc", "--grace", "0", "--delete-delay", "0")
        blobs = [f for root, _, files in os.walk(os.path.join(server.data, "providers")) for f in files if ".tmp" not in root]
        # Only the catalog journal's segments and snapshot and the audit log's copies stay.
        assert [f for f in blobs if not f.startswith(("j-", "s-", "a-"))] == [], blobs
    finally:
        server.stop()


def test_virtual_hosted_style_with_a_domain():
    server = Server("--domain", "nuage.test")
    try:
        server.client().create_bucket(Bucket="vhost")
        parsed = urllib.parse.urlsplit(server.endpoint)
        body = b"virtual"
        for method, path, payload in [("PUT", "/greeting", body), ("GET", "/greeting", b"")]:
            host = f"vhost.nuage.test:{parsed.port}"
            headers = signed_headers(server, method, f"http://{host}{path}", hashlib.sha256(payload).hexdigest(), payload)
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", host)
            for name, value in headers.items():
                if name.lower() != "host":
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(payload)))
            connection.endheaders(payload)
            response = connection.getresponse()
            data = response.read()
            assert response.status == 200, data
        assert data == body
        # The same object by path style.
        assert server.client().get_object(Bucket="vhost", Key="greeting")["Body"].read() == body
    finally:
        server.stop()


def test_a_changed_configuration_and_sighup_say_a_restart_is_needed():
    server = Server()
    try:
        server.process.send_signal(signal.SIGHUP)
        path = os.path.join(server.data, "nuage.toml")
        open(path, "a").write("\n# an operator's edit\n")
        deadline = time.time() + 30
        while True:
            server.log.seek(0)
            log = server.log.read()
            if "SIGHUP: nuage.toml is read at start only" in log and "changed; this gateway keeps the configuration" in log:
                break
            assert time.time() < deadline, log
            time.sleep(0.5)
        assert server.process.poll() is None, "SIGHUP does not stop the gateway"
        assert server.client().list_buckets()["Buckets"] is not None
    finally:
        server.stop()
