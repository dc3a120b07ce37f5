"""Regression tests for the findings of the security review (issue #10): each asserts what the
server got wrong before the fix, through real clients (boto3) or raw, exactly-controlled HTTP."""
import base64
import hashlib
import http.client
import itertools
import json
import os
import re
import select
import socket
import stat
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import zlib

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Server, nuage_binary


# MARK: Raw HTTP


def sign(server, method, path, body=b"", headers=None, service="s3", region="us-east-1", auth=botocore.auth.S3SigV4Auth):
    """The headers of a SigV4 header-authenticated request; every header given is signed."""
    request = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + path, data=body, headers=dict(headers or {}))
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    auth(credentials, service, region).add_auth(request)
    return {name: value for name, value in request.headers.items() if name.lower() != "host"}


def raw(server, method, target, body=b"", headers=None):
    """Sends `target` (path and query) exactly as given, with exactly these headers (plus Host and
    Content-Length); returns status, headers and body."""
    parsed = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True, skip_host=True)
        connection.putheader("Host", parsed.netloc)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def send(server, method, path, body=b"", headers=None, unsigned=None, **scope):
    """A signed request (all of `headers` signed), plus `unsigned` headers added after signing."""
    signed = sign(server, method, path, body, headers, **scope)
    status, _, answer = raw(server, method, path, body, {**signed, **(unsigned or {})})
    return status, answer


def presigned(server, url, method, body=b"", headers=None):
    """Sends a presigned URL of this server as is."""
    parts = urllib.parse.urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    return raw(server, method, target, body, headers)


def code(body):
    text = body.decode(errors="replace")
    return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else text


def error(body):
    """The error document, which must be well-formed XML."""
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    return root


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def exists(s3, bucket, key):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response
        return False


@pytest.fixture
def healthy(server, s3):
    yield
    assert server.process.poll() is None, "the server died"
    s3.list_buckets()


def sigv4_client(server, region="us-east-1"):
    return boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=server.access_key,
                        aws_secret_access_key=server.secret_key, region_name=region,
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}))


def sigv2_client(server):
    return server.client(signature_version="s3")


# MARK: 1. XML bodies: deep nesting and document type declarations


DEEP = b"<Delete>" + b"<a>" * 75000 + b"</a>" * 75000 + b"</Delete>"
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def test_deeply_nested_delete_objects_is_malformed_and_the_server_survives(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="a", Body=b"kept")
    status, body = send(server, "POST", f"/{bucket}?delete", DEEP)
    assert (status, code(body)) == (400, "MalformedXML"), body[:500]
    assert server.process.poll() is None, "the server crashed on a deeply nested DeleteObjects body"
    assert keys(s3, bucket) == ["a"]


def test_xml_names_that_are_not_utf8_are_malformed_and_the_server_survives(server, s3, bucket, healthy):
    """Found by fuzzing: Foundation's XMLParser trapped on such element names."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"kept")
    crash = open(os.path.join(os.path.dirname(__file__), "../../Fuzz/corpus/xml/crash-5048050e2d6d74313ec8d879db112140c6054225"), "rb").read()
    for body in [crash, b"<Delete><Object><Key>a</Key></Object><\x9c\xff/></Delete>"]:
        status, answer = send(server, "POST", f"/{bucket}?delete", body)
        assert (status, code(answer)) == (400, "MalformedXML"), answer[:300]
        assert server.process.poll() is None, "the server crashed on an XML name that is not UTF-8"
    assert keys(s3, bucket) == ["a"]


def test_http_dates_that_are_not_ascii_are_ignored_and_the_server_survives(server, s3, bucket, healthy):
    """Found by fuzzing: Foundation's DateFormatter trapped on such dates (If-Modified-Since)."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"kept")
    for header in ["If-Modified-Since", "If-Unmodified-Since", "x-amz-copy-source-if-modified-since"]:
        signed = sign(server, "GET", f"/{bucket}/a")
        parsed = urllib.parse.urlsplit(server.endpoint)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        connection.putrequest("GET", f"/{bucket}/a", skip_accept_encoding=True, skip_host=True)
        connection.putheader("Host", parsed.netloc)
        for name, value in signed.items():
            connection.putheader(name, value)
        connection.putheader(header, b"S\xd9\x97S")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert server.process.poll() is None, f"the server crashed on {header}"
        # An HTTP date that does not parse is ignored, as RFC 9110 says; x-amz-* must be signed.
        assert response.status in (200, 403), (header, response.status, body[:300])


def test_deeply_nested_complete_multipart_upload_is_malformed_and_the_server_survives(server, s3, bucket, healthy):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
        deep = b"<CompleteMultipartUpload>" + b"<a>" * 75000 + b"</a>" * 75000 + b"</CompleteMultipartUpload>"
        status, body = send(server, "POST", f"/{bucket}/mp?uploadId={urllib.parse.quote(upload, safe='')}", deep)
        assert (status, code(body)) == (400, "MalformedXML"), body[:500]
        assert server.process.poll() is None, "the server crashed on a deeply nested CompleteMultipartUpload body"
        assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]] == [1]
        assert not exists(s3, bucket, "mp")
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


def test_document_type_declarations_are_refused(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="lol", Body=b"kept")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"kept")
    laughs = LAUGHS + b"<Delete><Object><Key>&lol9;</Key></Object></Delete>"
    status, body = send(server, "POST", f"/{bucket}?delete", laughs)
    assert (status, code(body)) == (400, "MalformedXML"), body[:500]
    # An entity that would expand to an existing key, and a harmless declaration: refused all the same.
    internal = b'<!DOCTYPE Delete [<!ENTITY k "plain">]><Delete><Object><Key>&k;</Key></Object></Delete>'
    status, body = send(server, "POST", f"/{bucket}?delete", internal)
    assert (status, code(body)) == (400, "MalformedXML"), body[:500]
    external = b'<!DOCTYPE Delete [<!ENTITY k SYSTEM "file:///etc/hostname">]><Delete><Object><Key>&k;</Key></Object></Delete>'
    status, body = send(server, "POST", f"/{bucket}?delete", external)
    assert (status, code(body)) == (400, "MalformedXML"), body[:500]
    assert keys(s3, bucket) == ["lol", "plain"]

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
        complete = LAUGHS + f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>".encode()
        status, body = send(server, "POST", f"/{bucket}/mp?uploadId={urllib.parse.quote(upload, safe='')}", complete)
        assert (status, code(body)) == (400, "MalformedXML"), body[:500]
        assert not exists(s3, bucket, "mp")
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


# MARK: 2. Unsigned x-amz-* headers


def test_presigned_put_with_an_unsigned_copy_source_is_refused(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"the secret")
    url = sigv4_client(server).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "drop"}, ExpiresIn=600)
    status, _, body = presigned(server, url, "PUT", b"", {"x-amz-copy-source": f"{bucket}/secret.txt"})
    assert (status, code(body)) == (403, "AccessDenied"), body
    root = error(body)
    assert "not signed" in root.findtext("Message", ""), body
    assert "x-amz-copy-source" in body.decode(), body
    assert not exists(s3, bucket, "drop")


def test_presigned_upload_part_with_an_unsigned_copy_source_is_refused(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"the secret")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    try:
        url = sigv4_client(server).generate_presigned_url(
            "upload_part", Params={"Bucket": bucket, "Key": "mp", "UploadId": upload, "PartNumber": 1}, ExpiresIn=600)
        status, _, body = presigned(server, url, "PUT", b"", {"x-amz-copy-source": f"{bucket}/secret.txt"})
        assert (status, code(body)) == (403, "AccessDenied"), body
        assert "not signed" in error(body).findtext("Message", ""), body
        assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload).get("Parts", []) == []
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


def test_header_signed_put_with_unsigned_metadata_is_refused(server, s3, bucket, healthy):
    status, body = send(server, "PUT", f"/{bucket}/meta", b"data", unsigned={"x-amz-meta-x": "injected"})
    assert (status, code(body)) == (403, "AccessDenied"), body
    assert "not signed" in error(body).findtext("Message", ""), body
    assert not exists(s3, bucket, "meta")
    # The same header, signed, is stored.
    status, body = send(server, "PUT", f"/{bucket}/meta", b"data", headers={"x-amz-meta-x": "signed"})
    assert status == 200, body
    assert s3.head_object(Bucket=bucket, Key="meta")["Metadata"] == {"x": "signed"}


def test_presigned_put_with_unsigned_standard_headers_still_works(server, s3, bucket, healthy):
    url = sigv4_client(server).generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "ok"}, ExpiresIn=600)
    status, _, body = presigned(server, url, "PUT", b"presigned body", {"Content-Type": "text/plain"})
    assert status == 200, body
    got = s3.get_object(Bucket=bucket, Key="ok")
    assert got["Body"].read() == b"presigned body"
    assert got["ContentType"] == "text/plain"


# MARK: 3. Copy sources


def test_copy_source_key_with_a_question_mark(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="a", Body=b"the object a")
    s3.put_object(Bucket=bucket, Key="a?b", Body=b"the object a?b")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "a?b"})
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == b"the object a?b"


def test_copy_source_version_ids(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="a", Body=b"the object a")
    status, body = send(server, "PUT", f"/{bucket}/v1", headers={"x-amz-copy-source": f"{bucket}/a?versionId=abc"})
    assert (status, code(body)) == (400, "InvalidArgument"), body  # not an id Nuage gives out
    assert not exists(s3, bucket, "v1")
    status, body = send(server, "PUT", f"/{bucket}/v2", headers={"x-amz-copy-source": f"{bucket}/a?versionId={'0' * 32}"})
    assert (status, code(body)) == (404, "NoSuchVersion"), body
    assert not exists(s3, bucket, "v2")
    status, body = send(server, "PUT", f"/{bucket}/vnull", headers={"x-amz-copy-source": f"{bucket}/a?versionId=null"})
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="vnull")["Body"].read() == b"the object a"


# MARK: 4. Credential scope


def test_header_signature_for_another_service_is_refused(server, healthy):
    status, body = send(server, "GET", "/", service="iam", auth=botocore.auth.SigV4Auth)
    assert (status, code(body)) == (400, "AuthorizationHeaderMalformed"), body
    assert "iam" in error(body).findtext("Message", ""), body


def test_header_signature_for_another_region_is_refused(server, healthy):
    status, body = send(server, "GET", "/", region="eu-west-1")
    assert (status, code(body)) == (400, "AuthorizationHeaderMalformed"), body
    root = error(body)
    assert root.findtext("Region") == "us-east-1", body
    assert "eu-west-1" in root.findtext("Message", ""), body
    # boto3 itself, configured for the wrong region.
    with pytest.raises(ClientError) as raised:
        sigv4_client(server, "eu-west-1").list_buckets()
    assert raised.value.response["Error"]["Code"] == "AuthorizationHeaderMalformed"


def test_presigned_url_for_another_region_is_refused(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    url = sigv4_client(server, "eu-west-1").generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=600)
    status, _, body = presigned(server, url, "GET")
    assert (status, code(body)) == (400, "AuthorizationQueryParametersError"), body
    error(body)
    # The same URL for the server's region works.
    url = sigv4_client(server).generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=600)
    assert presigned(server, url, "GET")[::2] == (200, b"data")


# MARK: 5. Signature version 2 presigned URLs sign their sub-resources


def test_sigv2_presigned_urls_cannot_gain_sub_resources(server, s3, bucket, healthy):
    s3.put_object(Bucket=bucket, Key="obj", Body=b"object body")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    try:
        s3.upload_part(Bucket=bucket, Key="obj", UploadId=upload, PartNumber=1, Body=b"part")
        v2 = sigv2_client(server)
        quoted = urllib.parse.quote(upload, safe="")

        get = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=600)
        assert "AWSAccessKeyId=" in get and "X-Amz-" not in get
        assert presigned(server, get, "GET")[::2] == (200, b"object body")
        status, _, body = presigned(server, get + f"&uploadId={quoted}", "GET")
        assert (status, code(body)) == (403, "SignatureDoesNotMatch"), body  # not ListParts

        delete = v2.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=600)
        status, _, body = presigned(server, delete + f"&uploadId={quoted}", "DELETE")
        assert (status, code(body)) == (403, "SignatureDoesNotMatch"), body  # not AbortMultipartUpload
        assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload]
        assert [p["PartNumber"] for p in s3.list_parts(Bucket=bucket, Key="obj", UploadId=upload)["Parts"]] == [1]
        assert exists(s3, bucket, "obj")

        # botocore signs a bucket's URL over "/bucket/" but sends "/bucket" (see the test below);
        # sent to "/bucket/", the URL matches its signature, so only the added `uploads` can fail it.
        listing = v2.generate_presigned_url("list_objects", Params={"Bucket": bucket}, ExpiresIn=600)
        listing = listing.replace(f"/{bucket}?", f"/{bucket}/?", 1)
        status, _, body = presigned(server, listing, "GET")
        assert status == 200 and "<Key>obj</Key>" in body.decode(), body
        status, _, body = presigned(server, listing + "&uploads", "GET")
        assert (status, code(body)) == (403, "SignatureDoesNotMatch"), body  # not ListMultipartUploads
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload)


def test_boto3_sigv2_presigned_bucket_listing_works(server, s3, bucket, healthy):
    """Not a finding of #10, found while writing the test above: botocore's HmacV1 signs a
    path-style bucket URL over "/bucket/" (its auth_path) and sends GET /bucket?..., which the
    server checks against "/bucket" and refuses with SignatureDoesNotMatch."""
    s3.put_object(Bucket=bucket, Key="obj", Body=b"object body")
    v2 = sigv2_client(server)
    for operation in ["list_objects", "list_objects_v2"]:
        url = v2.generate_presigned_url(operation, Params={"Bucket": bucket}, ExpiresIn=600)
        status, _, body = presigned(server, url, "GET")
        assert status == 200 and "<Key>obj</Key>" in body.decode(), (operation, url, body)


# MARK: 6. Checksums


def crc32(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_every_checksum_sent_is_checked_or_refused(server, s3, bucket, healthy):
    data = b"checksummed body"
    wrong = crc32(b"another body")
    status, body = send(server, "PUT", f"/{bucket}/two", data,
                        headers={"x-amz-checksum-crc32": wrong, "x-amz-checksum-sha256": sha256(data)})
    assert (status, code(body)) == (400, "InvalidRequest"), body
    assert "checksum" in error(body).findtext("Message", "").lower(), body
    assert not exists(s3, bucket, "two")
    # The other order of trust: a right CRC32 and a wrong SHA-256.
    status, body = send(server, "PUT", f"/{bucket}/two", data,
                        headers={"x-amz-checksum-crc32": crc32(data), "x-amz-checksum-sha256": sha256(b"x")})
    assert (status, code(body)) == (400, "InvalidRequest"), body
    assert not exists(s3, bucket, "two")

    status, body = send(server, "PUT", f"/{bucket}/foo", data, headers={"x-amz-checksum-foo": "AAAA"})
    assert (status, code(body)) == (501, "NotImplemented"), body
    assert not exists(s3, bucket, "foo")

    # One right checksum is still accepted, one wrong one still refused.
    status, body = send(server, "PUT", f"/{bucket}/one", data, headers={"x-amz-checksum-crc32": crc32(data)})
    assert status == 200, body
    status, body = send(server, "PUT", f"/{bucket}/bad", data, headers={"x-amz-checksum-crc32": wrong})
    assert (status, code(body)) == (400, "BadDigest"), body
    assert keys(s3, bucket) == ["one"]


# MARK: 7. Error documents are well-formed XML


@pytest.mark.parametrize("raw_key", ["a%00b", "a%01b", "a%1Fb", "a%0Bb"])
def test_error_documents_for_control_characters_are_well_formed(server, s3, bucket, healthy, raw_key):
    status, body = send(server, "PUT", f"/{bucket}/{raw_key}", b"data")
    assert status == 400, body
    root = error(body)  # raises on `&#x0;` and the like
    assert root.findtext("Code"), body
    assert keys(s3, bucket) == []


def test_boto3_sees_the_error_code_for_a_control_character_key(server, s3, bucket, healthy):
    for key in ["a\x01b", "a\x00b"]:
        with pytest.raises(ClientError) as raised:
            s3.put_object(Bucket=bucket, Key=key, Body=b"data")
        err = raised.value.response["Error"]
        # An unparsable document leaves botocore with the status only: Code "400", "Bad Request".
        assert err["Code"] not in ("400", "BadRequest", "Bad Request") and err.get("Message") != "Bad Request", (key, err)
    assert keys(s3, bucket) == []


# MARK: 8. A signed Expect header


class SignExpect(botocore.auth.S3SigV4Auth):
    """Signs `Expect` too, as some clients (and proxies' clients) do; botocore leaves it out."""

    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        if "expect" in request.headers:
            headers["expect"] = request.headers["expect"]
        return headers


def test_a_signed_expect_100_continue_is_verified(server, s3, bucket, healthy):
    data = b"body sent after 100 Continue"
    path = f"/{bucket}/expect"
    headers = sign(server, "PUT", path, data, {"Expect": "100-continue"}, auth=SignExpect)
    assert "expect" in headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    parsed = urllib.parse.urlsplit(server.endpoint)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as sock:
        head = f"PUT {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: {len(data)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode())
        readable, _, _ = select.select([sock], [], [], 5)  # the body follows 100 Continue, or a pause
        if readable:
            interim = sock.recv(64, socket.MSG_PEEK)
            assert interim.startswith(b"HTTP/1.1 100"), interim  # not a final answer before the body
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()  # skips the 100 Continue
        body = response.read()
    assert response.status == 200, body
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == data


# MARK: 9. File modes of the data directory


def modes(root):
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        found[os.path.relpath(directory, root)] = stat.S_IMODE(os.lstat(directory).st_mode)
        for name in filenames:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_data_directory_files_are_private():
    own = Server()
    try:
        s3 = own.client()
        s3.create_bucket(Bucket="modes")
        s3.put_object(Bucket="modes", Key="k", Body=os.urandom(300_000))
        upload = s3.create_multipart_upload(Bucket="modes", Key="mp")["UploadId"]
        s3.upload_part(Bucket="modes", Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
        found = modes(own.data)  # while serving: the WAL and shared-memory files exist now
    finally:
        own.process.terminate()
        own.process.wait(timeout=20)
    try:
        found.update({path: mode for path, mode in modes(own.data).items() if path not in found})
        # With the master key in a token (NUAGE_E2E_MASTER_KEY=pkcs11) no key file exists at all.
        for name in ["catalog.sqlite", "nuage.toml"] + (["master.key"] if own.master_key == "file" else []):
            assert name in found, sorted(found)
        assert own.master_key == "file" or "master.key" not in found, sorted(found)
        blobs = [p for p in found if p.startswith("providers" + os.sep) and os.path.isfile(os.path.join(own.data, p))]
        assert blobs, sorted(found)
        listing = "\n".join(f"{mode:04o} {path}" for path, mode in sorted(found.items()))
        print(listing)
        wrong = {path: f"{mode:04o}" for path, mode in found.items()
                 if mode != (0o700 if os.path.isdir(os.path.join(own.data, path)) else 0o600)}
        assert not wrong, f"not private (files 0600, directories 0700): {wrong}\n{listing}"
    finally:
        own.log.close()
        subprocess.run(["rm", "-rf", own.dir], check=False)


# MARK: 10. providers check leaves denied providers alone


def snapshot(root):
    """Every file and directory under root, with directories' modification times (a probe blob
    written and deleted again changes them)."""
    entries = {}
    for directory, dirnames, filenames in os.walk(root):
        entries[os.path.relpath(directory, root) + "/"] = os.stat(directory).st_mtime_ns
        for name in filenames:
            path = os.path.join(directory, name)
            entries[os.path.relpath(path, root)] = os.stat(path).st_size
    return entries


def test_providers_check_skips_denied_providers(tmp_path):
    data = str(tmp_path / "data")
    binary = nuage_binary()

    def nuage(*args):
        return subprocess.run([binary, *args, "--data", data], capture_output=True, text=True, timeout=120)

    assert nuage("init").returncode == 0
    config_path = os.path.join(data, "nuage.toml")
    with open(config_path) as f:
        config = f.read()
    deny = next(line for line in config.splitlines() if line.startswith("deny ="))
    with open(config_path, "w") as f:
        f.write(config.replace(deny, 'deny = ["CN"]              # the denied provider: cn-hangzhou'))
    policy = nuage("policy", "check")
    assert policy.returncode == 0 and "excluded: cn-hangzhou" in policy.stdout, policy.stdout + policy.stderr

    denied = os.path.join(data, "providers", "cn-hangzhou")
    allowed = os.path.join(data, "providers", "us-east")
    before, allowed_before = snapshot(denied), snapshot(allowed)
    check = nuage("providers", "check")
    output = check.stdout + check.stderr
    assert snapshot(denied) == before, f"providers check wrote to the denied provider:\n{output}"
    assert snapshot(allowed) != allowed_before or "us-east" in output, output  # the others were probed
    assert check.returncode == 0, output
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if "cn-hangzhou" in line), None)
    assert start is not None, output
    section = [lines[start]] + list(itertools.takewhile(lambda line: line[:1].isspace(), lines[start + 1:]))
    text = "\n".join(section).lower()
    assert "skip" in text and "denied" in text, f"no 'skipped: denied' for cn-hangzhou:\n{output}"
    assert "write" not in text, output


# MARK: 3. One key cannot take every slot; a trickling body is cut


def trickle(server, path, access_key, secret_key):
    """Opens a signed PUT of 100000 bytes and sends one: the server is left waiting."""
    request = botocore.awsrequest.AWSRequest(method="PUT", url=server.endpoint + path, data=b"x" * 100000)
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(access_key, secret_key), "s3", "us-east-1").add_auth(request)
    parsed = urllib.parse.urlsplit(server.endpoint)
    connection = socket.create_connection((parsed.hostname, parsed.port), timeout=60)
    head = f"PUT {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: 100000\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host")
    connection.sendall(head.encode() + b"\r\nx")
    return connection


def held_trickle(server, path, access_key, secret_key):
    """A trickling PUT that the server holds (not answered at once: the slot of a request that
    just ended may take a moment to be released)."""
    for _ in range(50):
        connection = trickle(server, path, access_key, secret_key)
        if not select.select([connection], [], [], 0.3)[0]:
            return connection
        connection.close()
    raise AssertionError("the server never held a trickling request")


def test_one_key_cannot_hold_every_slot_and_trickling_bodies_are_cut():
    server = Server()
    try:
        server.reconfigure("max-in-flight = 64", "max-in-flight = 4\nbody-grace-seconds = 3")
        s3 = server.client()
        s3.create_bucket(Bucket="shared")
        other = json.loads(server.run("keys", "create", "--name", "other", "--json"))
        # The first key holds its share (half of 4) with bodies that trickle.
        held = [held_trickle(server, f"/shared/slow-{i}", server.access_key, server.secret_key) for i in range(2)]
        # The server takes the trickling requests in asynchronously: ask until it holds both.
        refused = None
        for _ in range(100):
            try:
                s3.put_object(Bucket="shared", Key="third", Body=b"x")
            except ClientError as error:
                refused = error
                break
        assert refused is not None, "never refused while the key held its share"
        assert refused.response["Error"]["Code"] == "SlowDown"
        assert "access key" in refused.response["Error"]["Message"]
        # Another key is still served.
        boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=other["access_key"],
                     aws_secret_access_key=other["secret_key"], region_name="us-east-1",
                     config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
                     ).put_object(Bucket="shared", Key="other", Body=b"y")
        # The trickling bodies are cut (after 3 s of waiting here) with RequestTimeout.
        for connection in held:
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
            connection.close()
            assert answer.startswith(b"HTTP/1.1 400"), answer
            assert b"<Code>RequestTimeout</Code>" in answer
        s3.put_object(Bucket="shared", Key="third", Body=b"x")
        assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="shared")["Contents"]) == ["other", "third"]
        assert "request body too slow" in open(os.path.join(server.dir, "serve.log")).read()
    finally:
        server.stop()


def test_presigned_expiry_errors_are_awss(server, s3, bucket):
    """X-Amz-Expires beyond a week or negative: 400 AuthorizationQueryParametersError with AWS's
    wording; a URL whose time is up: 403 AccessDenied, "Request has expired"."""
    s3.put_object(Bucket=bucket, Key="e", Body=b"e")
    signer = sigv4_client(server)

    def fetch(url):
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
    too_long = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=604801)
    status, body = fetch(too_long)
    assert status == 400 and b"<Code>AuthorizationQueryParametersError</Code>" in body and b"must be less than a week" in body
    week = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=604800)
    assert fetch(week) == (200, b"e")
    negative = re.sub(r"X-Amz-Expires=\d+", "X-Amz-Expires=-5", week)
    status, body = fetch(negative)
    assert status == 400 and b"must be non-negative" in body
    short = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=1)
    time.sleep(2.5)
    status, body = fetch(short)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body
