"""SSE-C end to end: objects under a client's key, through boto3, the aws CLI and presigned URLs,
with AWS's errors for missing, wrong and malformed keys; repair, scrub, drain and recovery
without the key; and the key never in a log, the catalog or a provider's bytes."""
import base64
import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import urllib.parse

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from conftest import Server
from test_bad_input import code, exchange

KEY = b"0123456789abcdef0123456789ABCDEF"  # 32 bytes, as the aws CLI takes it on its command line
OTHER = b"another key, also 32 bytes long!"
MARKER = b"SSE-C plaintext marker 7f3a "
CUSTOMER = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": KEY.decode()}
WRONG = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": OTHER.decode()}


def b64(data):
    return base64.b64encode(data).decode()


def headers_for(key, prefix="x-amz-server-side-encryption-customer-", algorithm="AES256", md5=None):
    return {prefix + "algorithm": algorithm, prefix + "key": b64(key),
            prefix + "key-md5": md5 if md5 is not None else b64(hashlib.md5(key).digest())}


def request(server, method, path, body=b"", headers=None, host=None):
    """A SigV4-signed request sent as is, to `host` on the server's port if given; (status, headers, body)."""
    endpoint = None if host is None else f"http://{host}:{urllib.parse.urlsplit(server.endpoint).port}"
    return exchange(server, method, path, body, headers, endpoint=endpoint)


def refused(call):
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call()
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_only_the_clients_key_opens_the_object(server, s3, bucket):
    body = MARKER * 5000
    put = s3.put_object(Bucket=bucket, Key="secret", Body=body, Metadata={"m": "v"}, **CUSTOMER)
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == b64(hashlib.md5(KEY).digest())
    assert put["ETag"].strip('"') != hashlib.md5(body).hexdigest(), "an SSE-C ETag is not the plaintext's MD5"
    got = s3.get_object(Bucket=bucket, Key="secret", **CUSTOMER)
    assert got["Body"].read() == body and got["Metadata"] == {"m": "v"} and got["ETag"] == put["ETag"]
    assert got["SSECustomerKeyMD5"] == put["SSECustomerKeyMD5"]
    head = s3.head_object(Bucket=bucket, Key="secret", **CUSTOMER)
    assert head["ContentLength"] == len(body) and head["SSECustomerAlgorithm"] == "AES256"
    ranged = s3.get_object(Bucket=bucket, Key="secret", Range="bytes=1000-1999", **CUSTOMER)
    assert ranged["Body"].read() == body[1000:2000]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["secret"], "listing needs no key"
    # Without the key, with another: AWS's errors, and not one byte of the object.
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="secret")) == (400, "InvalidRequest")
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="secret", **WRONG)) == (403, "AccessDenied")
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="secret"))[0] == 400
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="secret", **WRONG))[0] == 403
    for headers, expected in [({}, (400, "InvalidRequest")), (headers_for(OTHER), (403, "AccessDenied")),
                              ({**headers_for(OTHER), "Range": "bytes=0-99"}, (403, "AccessDenied"))]:
        status, _, answer = request(server, "GET", f"/{bucket}/secret", headers=headers)
        assert (status, code(answer)) == expected, answer
        assert MARKER[:12] not in answer
    # A plain object is not opened with a key it never had.
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain")
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="plain", **CUSTOMER)) == (400, "InvalidRequest")
    # Overwriting with a new key: the old one no longer opens it.
    s3.put_object(Bucket=bucket, Key="secret", Body=b"new", **WRONG)
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="secret", **CUSTOMER)) == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="secret", **WRONG)["Body"].read() == b"new"


def test_malformed_keys_get_aws_errors_and_store_nothing(server, s3, bucket):
    cases = [
        (headers_for(KEY, md5=b64(hashlib.md5(OTHER).digest())), 400, "InvalidArgument"),
        (headers_for(KEY[:31]), 400, "InvalidArgument"),
        ({**headers_for(KEY), "x-amz-server-side-encryption-customer-key": "not base64!"}, 400, "InvalidArgument"),
        (headers_for(KEY, algorithm="AES128"), 400, "InvalidEncryptionAlgorithmError"),
        ({k: v for k, v in headers_for(KEY).items() if not k.endswith("-md5")}, 400, "InvalidArgument"),
        ({k: v for k, v in headers_for(KEY).items() if not k.endswith("-key")}, 400, "InvalidArgument"),
        ({k: v for k, v in headers_for(KEY).items() if not k.endswith("-algorithm")}, 400, "InvalidArgument"),
        ({**headers_for(KEY), "x-amz-server-side-encryption": "AES256"}, 400, "InvalidArgument"),
    ]
    for headers, status, expected in cases:
        got_status, _, answer = request(server, "PUT", f"/{bucket}/refused", b"data", headers)
        assert (got_status, code(answer)) == (status, expected), (headers, answer)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket), "a refused write stores nothing"
    # SSE-C headers where they mean nothing are refused, not ignored.
    status, _, answer = request(server, "GET", f"/{bucket}?list-type=2", headers=headers_for(KEY))
    assert (status, code(answer)) == (400, "InvalidRequest"), answer


def test_multipart_uploads_under_the_clients_key(server, s3, bucket):
    body = os.urandom(11 << 20)
    s3.upload_fileobj(io.BytesIO(body), bucket, "multi", ExtraArgs=dict(CUSTOMER),
                      Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    assert s3.get_object(Bucket=bucket, Key="multi", **CUSTOMER)["Body"].read() == body
    across = s3.get_object(Bucket=bucket, Key="multi", Range=f"bytes={(5 << 20) - 10}-{(5 << 20) + 9}", **CUSTOMER)
    assert across["Body"].read() == body[(5 << 20) - 10:(5 << 20) + 10], "a range across two parts"
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="multi")) == (400, "InvalidRequest")
    # Every part must come under the key the upload was created with.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="parts", **CUSTOMER)["UploadId"]
    assert refused(lambda: s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"x")) == (400, "InvalidRequest")
    assert refused(lambda: s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1, Body=b"x", **WRONG)) == (403, "AccessDenied")
    part = s3.upload_part(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=2, Body=b"last part", **CUSTOMER)
    assert part["SSECustomerKeyMD5"] == b64(hashlib.md5(KEY).digest())
    # A part copied from another SSE-C object: the source's key and the upload's.
    first = f"bytes=0-{(5 << 20) - 1}"
    assert refused(lambda: s3.upload_part_copy(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1,
                                               CopySource={"Bucket": bucket, "Key": "multi"}, CopySourceRange=first,
                                               **CUSTOMER)) == (400, "InvalidRequest")
    copied = s3.upload_part_copy(Bucket=bucket, Key="parts", UploadId=upload, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "multi"}, CopySourceRange=first,
                                 CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=KEY.decode(), **CUSTOMER)
    # ListParts takes the key optionally (as AWS does); given, it must be the upload's.
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="parts", UploadId=upload)["Parts"]] == [1, 2]
    # (boto3 neither encodes the key nor adds its MD5 for ListParts: sent as is.)
    status, _, answer = request(server, "GET", f"/{bucket}/parts?uploadId={upload}", headers=headers_for(KEY))
    assert status == 200 and answer.count(b"<PartNumber>") == 2, answer
    status, _, answer = request(server, "GET", f"/{bucket}/parts?uploadId={upload}", headers=headers_for(OTHER))
    assert (status, code(answer)) == (403, "AccessDenied"), answer
    parts = {"Parts": [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": part["ETag"]}]}
    assert refused(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload, MultipartUpload=parts,
                                                        **WRONG)) == (403, "AccessDenied")
    s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=upload, MultipartUpload=parts)
    assert s3.get_object(Bucket=bucket, Key="parts", **CUSTOMER)["Body"].read() == body[:5 << 20] + b"last part"


def test_copies_between_keys_and_plain_objects(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=b"plain body")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"secret body", **CUSTOMER)
    source_key = {"CopySourceSSECustomerAlgorithm": "AES256", "CopySourceSSECustomerKey": KEY.decode()}
    # plain -> SSE-C, SSE-C -> plain, SSE-C -> another key, and a key rotation in place.
    s3.copy_object(Bucket=bucket, Key="p2s", CopySource={"Bucket": bucket, "Key": "plain"}, **CUSTOMER)
    assert s3.get_object(Bucket=bucket, Key="p2s", **CUSTOMER)["Body"].read() == b"plain body"
    s3.copy_object(Bucket=bucket, Key="s2p", CopySource={"Bucket": bucket, "Key": "secret"}, **source_key)
    assert s3.get_object(Bucket=bucket, Key="s2p")["Body"].read() == b"secret body"
    s3.copy_object(Bucket=bucket, Key="s2s", CopySource={"Bucket": bucket, "Key": "secret"}, **source_key, **WRONG)
    assert s3.get_object(Bucket=bucket, Key="s2s", **WRONG)["Body"].read() == b"secret body"
    s3.copy_object(Bucket=bucket, Key="secret", CopySource={"Bucket": bucket, "Key": "secret"}, **source_key, **WRONG)
    assert s3.get_object(Bucket=bucket, Key="secret", **WRONG)["Body"].read() == b"secret body"
    assert refused(lambda: s3.get_object(Bucket=bucket, Key="secret", **CUSTOMER)) == (403, "AccessDenied")
    # A copy without the source's key, or with another, copies nothing.
    assert refused(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "secret"})) == (400, "InvalidRequest")
    assert refused(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "secret"}, **source_key)) == (403, "AccessDenied")
    assert "x" not in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}


def test_aws_cli_and_presigned_urls(server, s3, bucket, tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_bytes(MARKER * 100)
    large.write_bytes(os.urandom(20 << 20))  # above the CLI's 8 MiB threshold: a multipart upload
    cli = ["aws", "--endpoint-url", server.endpoint, "s3"]
    sse = ["--sse-c", "AES256", "--sse-c-key", KEY.decode()]
    for path in (small, large):
        subprocess.run([*cli, "cp", str(path), f"s3://{bucket}/{path.name}", *sse], check=True, env=server.env(), capture_output=True)
        out = tmp_path / (path.name + ".out")
        subprocess.run([*cli, "cp", f"s3://{bucket}/{path.name}", str(out), *sse], check=True, env=server.env(), capture_output=True)
        assert out.read_bytes() == path.read_bytes()
    failed = subprocess.run([*cli, "cp", f"s3://{bucket}/small", str(tmp_path / "nokey")], env=server.env(), capture_output=True, text=True)
    assert failed.returncode != 0 and "400" in failed.stderr, failed.stderr
    assert not (tmp_path / "nokey").exists() or (tmp_path / "nokey").read_bytes() == b"", "no byte without the key"
    # A SigV4 presigned GET: the key travels in headers, which the URL's signature covers.
    v4 = server.client(signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "small", **CUSTOMER})
    assert b64(KEY) not in urllib.parse.unquote(url) and "customer-key%3B" in url, url
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", parts.path + "?" + parts.query, headers=headers_for(KEY))
    response = connection.getresponse()
    assert response.status == 200 and response.read() == small.read_bytes()
    for headers in ({}, headers_for(OTHER)):
        connection.request("GET", parts.path + "?" + parts.query, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        assert response.status in (400, 403) and MARKER[:12] not in answer, answer
    # A SigV2 presigned URL would carry the key in its query string (and into every log it
    # passes through): refused, nothing read.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "small", **CUSTOMER})
    assert "customer-key=" in url
    parts = urllib.parse.urlsplit(url)
    connection.request("GET", parts.path + "?" + parts.query)
    response = connection.getresponse()
    answer = response.read()
    assert (response.status, code(answer)) == (400, "InvalidArgument") and b"in the URL is refused" in answer, answer
    assert MARKER[:12] not in answer


def non_loopback_address():
    for address in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split():
        if "." in address and not address.startswith("127."):
            return address
    pytest.skip("this machine has no non-loopback IPv4 address")


class WideServer(Server):
    """A gateway listening on every interface, reached through this machine's network address."""

    def __init__(self):
        super().__init__("--listen", "0.0.0.0:0")


def test_keys_over_plain_http_only_from_loopback_or_when_allowed():
    address = non_loopback_address()
    server = WideServer()
    try:
        assert request(server, "PUT", "/wide")[0] == 200
        status, _, answer = request(server, "PUT", "/wide/o", b"data", headers_for(KEY), host=address)
        assert (status, code(answer)) == (400, "InvalidRequest") and b"secure connection" in answer, answer
        assert request(server, "PUT", "/wide/o", b"data", host=address)[0] == 200, "plain requests are fine"
        assert request(server, "PUT", "/wide/k", b"data", headers_for(KEY))[0] == 200, "loopback is not a network"
        server.process.terminate()
        server.process.wait(timeout=30)
        path = os.path.join(server.data, "nuage.toml")
        text = open(path).read()
        open(path, "w").write(text.replace("[server]\n", "[server]\nallow-sse-c-over-http = true\n"))
        server.start()
        status, headers, _ = request(server, "GET", "/wide/k", headers=headers_for(KEY), host=address)
        assert status == 200 and headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    finally:
        server.stop()


def assert_nowhere(secrets, *directories):
    """No secret, as is or as JSON writes it ('/' escaped), in any file under the directories."""
    forms = {form for secret in secrets for form in (secret, secret.replace(b"/", b"\\/"))}
    for directory in directories:
        for root, _, files in os.walk(directory):
            for name in files:
                data = open(os.path.join(root, name), "rb").read()
                for form in forms:
                    assert form not in data, (os.path.join(root, name), form)


def test_repair_scrub_drain_and_recovery_without_the_key(tmp_path):
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="vault")
        bodies = {f"o{i}": MARKER * (i * 7000 + 1) for i in range(6)}
        for name, body in bodies.items():
            s3.put_object(Bucket="vault", Key=name, Body=body, **CUSTOMER)
        big = os.urandom(6 << 20) + MARKER
        s3.upload_fileobj(io.BytesIO(big), "vault", "multi", ExtraArgs=dict(CUSTOMER),
                          Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
        bodies["multi"] = big
        # A checksum of the plaintext is checked on the way in, never stored: it would be a digest
        # of data only the client may read.
        checked = MARKER * 999
        s3.put_object(Bucket="vault", Key="checked", Body=checked, ChecksumAlgorithm="SHA256", **CUSTOMER)
        bodies["checked"] = checked
        secrets = [KEY, b64(KEY).encode(), b64(hashlib.md5(KEY).digest()).encode(), hashlib.md5(KEY).hexdigest().encode(), MARKER,
                   b64(hashlib.sha256(checked).digest()).encode()]
        server.process.terminate()
        server.process.wait(timeout=30)
        server.log.flush()
        assert_nowhere(secrets, server.dir)
        # Damage: a lost shard and a corrupt one; a deep scrub finds them by their tags, repair rebuilds.
        blobs = sorted(os.path.join(d, f) for d, _, files in os.walk(os.path.join(server.data, "providers")) for f in files
                       if re.fullmatch("[0-9a-f]{32}", f) and os.path.getsize(os.path.join(d, f)) > 4096)
        os.remove(blobs[0])
        with open(blobs[-1], "r+b") as f:
            f.seek(os.path.getsize(blobs[-1]) - 100)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
        scrub = subprocess.run([server.binary, "scrub", "--deep", "--json", "--data", server.data], capture_output=True, text=True)
        assert scrub.returncode == 1 and len(json.loads(scrub.stdout)["damaged"]) == 2, scrub.stdout + scrub.stderr
        server.run("repair")
        assert json.loads(server.run("scrub", "--deep", "--json"))["damaged"] == []
        # A drain moves every shard off a provider: the shards go as ciphertext.
        drained = "eu-paris"
        path = os.path.join(server.data, "nuage.toml")
        text = open(path).read()
        open(path, "w").write(text.replace(f'name = "{drained}"', f'name = "{drained}"\nstate = "draining"'))
        report = json.loads(server.run("providers", "drain", drained, "--json"))
        assert report["failed"] == [] and report["shards"] > 0, report
        # The catalog lost: recovery from the providers brings the objects back, still under the key.
        server.lose_catalog()
        recovered = json.loads(server.run("recover", "--json"))
        assert recovered["problems"] == [] and recovered["unreadable"] == [], recovered
        server.start()
        s3 = server.client()
        for name, body in bodies.items():
            assert s3.get_object(Bucket="vault", Key=name, **CUSTOMER)["Body"].read() == body, name
            assert refused(lambda: s3.get_object(Bucket="vault", Key=name)) == (400, "InvalidRequest")
        # The key, its base64, its MD5 and the plaintext are nowhere the gateway writes.
        server.run("audit", "export", str(tmp_path / "bundle"))
        server.log.flush()
        assert_nowhere(secrets, server.dir, str(tmp_path / "bundle"))
    finally:
        server.stop()
