"""Hostile and malformed requests get their S3 error, store nothing, and the server keeps serving."""
import hashlib
import http.client
import socket
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest


def send(server, method, path, body=b"", headers=None, sign=True):
    """Sends a request with the path exactly as given (no client-side normalisation)."""
    status, _, answer = exchange(server, method, path, body, headers, sign)
    return status, answer


def exchange(server, method, path, body=b"", headers=None, sign=True, endpoint=None):
    """``send``, to `endpoint` (default: the server's), returning (status, headers, body)."""
    endpoint = endpoint or server.endpoint
    request = botocore.awsrequest.AWSRequest(method=method, url=endpoint + path, data=body, headers=dict(headers or {}))
    if sign:
        request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
        botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    parsed = urllib.parse.urlsplit(endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    connection.putrequest(method, path, skip_accept_encoding=True, skip_host=True)
    connection.putheader("Host", parsed.netloc)
    for name, value in request.headers.items():
        if name.lower() != "host":
            connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def code(body):
    text = body.decode(errors="replace")
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text


@pytest.fixture
def healthy(server, s3):
    yield
    assert server.process.poll() is None, "the server died"
    s3.list_buckets()


def test_invalid_bucket_names(server, healthy):
    for name in ["ab", "UPPER", "bad_name", "-start", "a..b", "192.168.0.1"]:
        status, body = send(server, "PUT", f"/{name}")
        assert (status, code(body)) == (400, "InvalidBucketName"), name


def test_hostile_keys_are_refused_and_nothing_is_stored(server, s3, bucket, healthy):
    for key in ["a/../b", "..", "x" * 1025]:
        status, body = send(server, "PUT", f"/{bucket}/{urllib.parse.quote(key, safe='/')}", b"data")
        assert status == 400, (key, body)
    status, body = send(server, "PUT", f"/{bucket}/nul%00key", b"data")
    assert status == 400, body
    status, body = send(server, "PUT", f"/{bucket}/bad%ffutf8", b"data")
    assert status == 400, body
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_malformed_requests(server, bucket, healthy):
    status, body = send(server, "POST", f"/{bucket}?delete", b"<Delete><Object><Key>x</Key></Objec")
    assert (status, code(body)) == (400, "MalformedXML")
    status, body = send(server, "GET", f"/{bucket}?list-type=2&max-keys=-1")
    assert (status, code(body)) == (400, "InvalidArgument")
    status, body = send(server, "GET", f"/{bucket}?list-type=2&continuation-token=%%%")
    assert status == 400
    status, body = send(server, "GET", "/", sign=False, headers={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    assert (status, code(body)) == (400, "AuthorizationHeaderMalformed")


def test_wrong_payload_hash_stores_nothing(server, s3, bucket, healthy):
    body = b"the real body"
    # Signed for another body (botocore puts that body's SHA-256 in x-amz-content-sha256), sent with this one.
    request = botocore.awsrequest.AWSRequest(method="PUT", url=f"{server.endpoint}/{bucket}/k", data=b"another body")
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    parsed = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("PUT", f"/{bucket}/k", body=body, headers=dict(request.headers))
    response = connection.getresponse()
    assert (response.status, code(response.read())) == (400, "XAmzContentSHA256Mismatch")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_body_cut_off_by_a_disconnect_stores_nothing(server, s3, bucket, healthy):
    parsed = urllib.parse.urlsplit(server.endpoint)
    request = botocore.awsrequest.AWSRequest(method="PUT", url=f"{server.endpoint}/{bucket}/cut", data=b"")
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        head = f"PUT /{bucket}/cut HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: 5000000\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() != "host") + "\r\n"
        sock.sendall(head.encode() + b"x" * 1_000_000)
    with pytest.raises(Exception):
        s3.head_object(Bucket=bucket, Key="cut")


def test_oversized_headers(server, healthy):
    status, _ = send(server, "GET", "/", headers={"x-junk": "j" * 100_000}, sign=False)
    assert status == 400
