"""Checksums as current SDKs send them, with boto3: CRC64NVME beside CRC32, CRC32C, SHA1 and
SHA256 on single uploads (header and trailer), and multipart uploads with FULL_OBJECT and
COMPOSITE checksums checked at completion, stored, and returned by CompleteMultipartUpload,
GET and HEAD (x-amz-checksum-mode), ListParts and GetObjectAttributes."""
import base64
import hashlib
import os
import zlib

import botocore.exceptions
import pytest

from test_sse_c import refused

MIB = 1 << 20


def crc64nvme(data):
    poly, crc = 0x9A6C9329AC4BC9B5, 0xFFFFFFFFFFFFFFFF
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return base64.b64encode((crc ^ 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")).decode()


def crc32(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_single_uploads_with_every_algorithm(s3, bucket):
    body = os.urandom(100_000)
    for algorithm in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        put = s3.put_object(Bucket=bucket, Key=algorithm, Body=body, ChecksumAlgorithm=algorithm)
        head = s3.head_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
        assert head[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"] and head["ChecksumType"] == "FULL_OBJECT"
    assert s3.head_object(Bucket=bucket, Key="CRC64NVME", ChecksumMode="ENABLED")["ChecksumCRC64NVME"] == crc64nvme(body)
    # A wrong value is refused before anything is stored.
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumCRC64NVME=crc64nvme(b"other"))) == (400, "BadDigest")
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="bad"))[0] == 404


def multipart(s3, bucket, key, parts, algorithm, kind=None, whole=None):
    create = {"ChecksumAlgorithm": algorithm} | ({"ChecksumType": kind} if kind else {})
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    assert upload["ChecksumAlgorithm"] == algorithm
    listed = []
    for number, body in enumerate(parts, 1):
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=body, ChecksumAlgorithm=algorithm)
        listed.append({"PartNumber": number, "ETag": part["ETag"], f"Checksum{algorithm}": part[f"Checksum{algorithm}"]})
    listing = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    assert [p[f"Checksum{algorithm}"] for p in listing["Parts"]] == [p[f"Checksum{algorithm}"] for p in listed]
    extra = {f"Checksum{algorithm}": whole} if whole else {}
    return upload["UploadId"], listed, lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": listed},
        **({"ChecksumType": kind} if kind else {}), **extra)


def test_full_object_checksums_of_multipart_uploads(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail bytes"]
    whole = b"".join(parts)
    for algorithm, expected in (("CRC64NVME", crc64nvme(whole)), ("CRC32", crc32(whole))):
        _, _, complete = multipart(s3, bucket, f"full-{algorithm}", parts, algorithm, "FULL_OBJECT", whole=expected)
        done = complete()
        assert done[f"Checksum{algorithm}"] == expected and done["ChecksumType"] == "FULL_OBJECT"
        got = s3.get_object(Bucket=bucket, Key=f"full-{algorithm}", ChecksumMode="ENABLED")
        assert got[f"Checksum{algorithm}"] == expected and got["ChecksumType"] == "FULL_OBJECT" and got["Body"].read() == whole
        attributes = s3.get_object_attributes(Bucket=bucket, Key=f"full-{algorithm}", ObjectAttributes=["Checksum"])
        assert attributes["Checksum"][f"Checksum{algorithm}"] == expected and attributes["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    # A whole-object value that is not the object's is BadDigest, and nothing is committed.
    upload, _, complete = multipart(s3, bucket, "full-wrong", parts, "CRC64NVME", "FULL_OBJECT", whole=crc64nvme(b"not it"))
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        complete()
    assert excinfo.value.response["Error"]["Code"] == "BadDigest"
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="full-wrong"))[0] == 404
    s3.abort_multipart_upload(Bucket=bucket, Key="full-wrong", UploadId=upload)


def test_composite_checksums_and_refusals(s3, bucket):
    parts = [os.urandom(5 * MIB), b"last"]
    digests = [hashlib.sha256(p).digest() for p in parts]
    expected = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode() + "-2"
    _, listed, complete = multipart(s3, bucket, "composite", parts, "SHA256")
    done = complete()
    assert done["ChecksumSHA256"] == expected and done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected and head["ChecksumType"] == "COMPOSITE"
    # What S3 refuses: FULL_OBJECT with a non-CRC algorithm, COMPOSITE CRC64NVME, a part without
    # the promised checksum, a part listed with another checksum than it was uploaded with.
    assert refused(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="SHA1", ChecksumType="FULL_OBJECT")) == (400, "InvalidRequest")
    assert refused(lambda: s3.create_multipart_upload(Bucket=bucket, Key="x", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE")) == (400, "InvalidRequest")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mismatch", ChecksumAlgorithm="CRC32")["UploadId"]
    assert refused(lambda: s3.upload_part(Bucket=bucket, Key="mismatch", UploadId=upload, PartNumber=1, Body=b"x",
                                          ChecksumAlgorithm="SHA256")) == (400, "InvalidRequest")
    part = s3.upload_part(Bucket=bucket, Key="mismatch", UploadId=upload, PartNumber=1, Body=b"x", ChecksumAlgorithm="CRC32")
    assert refused(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mismatch", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": crc32(b"y")}]})) == (400, "InvalidPart")
    s3.abort_multipart_upload(Bucket=bucket, Key="mismatch", UploadId=upload)
