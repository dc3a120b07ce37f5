"""Multipart uploads through boto3 and the aws command line against a real `nuage serve`."""
import base64
import hashlib
import json
import os
import subprocess

import botocore
import pytest
from boto3.s3.transfer import TransferConfig

from test_aws_cli import aws

MIB = 1 << 20


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def md5_of_md5s(parts):
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"


def test_upload_file_and_download_file_in_parts(s3, bucket, tmp_path):
    data = os.urandom(21 * MIB + 12345)
    source = tmp_path / "source"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(str(source), bucket, "big/file", Config=config, ExtraArgs={"ContentType": "video/mp4", "Metadata": {"a": "b"}})
    head = s3.head_object(Bucket=bucket, Key="big/file")
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "video/mp4" and head["Metadata"] == {"a": "b"}
    chunks = [data[i:i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    assert head["ETag"] == f'"{md5_of_md5s(chunks)}"'
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-mp-parts-count"] == str(len(chunks))
    target = tmp_path / "target"
    s3.download_file(bucket, "big/file", str(target), Config=config)
    assert target.read_bytes() == data
    # A range across the first part boundary, and one part by number.
    got = s3.get_object(Bucket=bucket, Key="big/file", Range=f"bytes={5 * MIB - 3}-{5 * MIB + 2}")["Body"].read()
    assert got == data[5 * MIB - 3:5 * MIB + 3]
    part = s3.get_object(Bucket=bucket, Key="big/file", PartNumber=2)
    assert part["Body"].read() == chunks[1] and part["ContentRange"] == f"bytes {5 * MIB}-{10 * MIB - 1}/{len(data)}"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="big/file", PartNumber=len(chunks) + 1)
    assert error_code(excinfo) == "InvalidPartNumber"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_low_level_multipart_api(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 1), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    other = s3.create_multipart_upload(Bucket=bucket, Key="mp-other")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp", upload), ("mp-other", other)]
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1)
    assert page["IsTruncated"] and [u["Key"] for u in page["Uploads"]] == ["mp"]
    rest = s3.list_multipart_uploads(Bucket=bucket, KeyMarker=page["NextKeyMarker"], UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["Key"] for u in rest["Uploads"]] == ["mp-other"]
    etags = {}
    for number, body in reversed(list(enumerate(parts, start=1))):
        etags[number] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=body)["ETag"]
        assert etags[number] == f'"{hashlib.md5(body).hexdigest()}"'
    listing = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listing["Parts"]] == \
        [(n, len(parts[n - 1]), etags[n]) for n in (1, 2, 3)]
    first = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload, MaxParts=2)
    assert first["IsTruncated"] and first["NextPartNumberMarker"] == 2

    def complete(numbers_and_etags):
        return s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": e} for n, e in numbers_and_etags]})

    for wrong, code in [([(2, etags[2]), (1, etags[1])], "InvalidPartOrder"),
                        ([(1, etags[2])], "InvalidPart"),
                        ([(1, etags[1]), (4, etags[1])], "InvalidPart"),
                        ([(3, etags[3]), (4, etags[3])], "InvalidPart")]:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            complete(wrong)
        assert error_code(excinfo) == code, wrong
    # A small part that is not the last.
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"x")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"y")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert error_code(excinfo) == "EntityTooSmall"

    # Part 2 uploaded twice counts as its last upload.
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=b"stale" * 1000)
    etags[2] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=2, Body=parts[1])["ETag"]
    result = complete([(n, etags[n]) for n in (1, 2, 3)])
    assert result["ETag"] == f'"{md5_of_md5s(parts)}"'
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)
    # A completion retried after it succeeded (its answer lost) gets the same answer; other parts do not.
    assert complete([(n, etags[n]) for n in (1, 2, 3)])["ETag"] == result["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        complete([(n, etags[n]) for n in (1, 2)])
    assert error_code(excinfo) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)
    assert error_code(excinfo) == "NoSuchUpload"
    # Abort forgets an upload; a second abort, or a part for it, is NoSuchUpload.
    s3.abort_multipart_upload(Bucket=bucket, Key="mp-other", UploadId=other)
    for call in (lambda: s3.abort_multipart_upload(Bucket=bucket, Key="mp-other", UploadId=other),
                 lambda: s3.upload_part(Bucket=bucket, Key="mp-other", UploadId=other, PartNumber=1, Body=b"z"),
                 lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId="not-an-upload", PartNumber=1, Body=b"z")):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "NoSuchUpload"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=10001, Body=b"z")
    assert error_code(excinfo) == "InvalidArgument"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)


def test_upload_part_copy(s3, bucket):
    source = os.urandom(6 * MIB + 7)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    copied = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "source"})["CopyPartResult"]["ETag"]
    ranged = s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=100-199")["CopyPartResult"]["ETag"]
    assert ranged == f'"{hashlib.md5(source[100:200]).hexdigest()}"'
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{len(source)}")
    # AWS: 400 InvalidArgument naming the source's size (not InvalidRange), and another message for a malformed range.
    assert error_code(excinfo) == "InvalidArgument"
    assert excinfo.value.response["Error"]["Message"] == f"Range specified is not valid for source object of size: {len(source)}"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.upload_part_copy(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=9-3")
    assert error_code(excinfo) == "InvalidArgument" and "must be of the form bytes=first-last" in excinfo.value.response["Error"]["Message"]
    # GET with a part number beyond the parts, or other than 1 on a single-part object: 416 InvalidPartNumber.
    for key, number in (("source", 2), ("source", 10000)):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            s3.get_object(Bucket=bucket, Key=key, PartNumber=number)
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416 and error_code(excinfo) == "InvalidPartNumber"
    assert s3.get_object(Bucket=bucket, Key="source", PartNumber=1)["Body"].read() == source
    s3.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": copied}, {"PartNumber": 2, "ETag": ranged}]})
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source + source[100:200]


def test_aws_cli_copies_a_file_above_the_multipart_threshold(server, bucket, tmp_path):
    data = os.urandom(19 * MIB + 5)
    (tmp_path / "big").write_bytes(data)
    aws(server, "s3", "cp", str(tmp_path / "big"), f"s3://{bucket}/cli-big")
    head = json.loads(aws(server, "s3api", "head-object", "--bucket", bucket, "--key", "cli-big").stdout)
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"'), head["ETag"]
    aws(server, "s3", "cp", f"s3://{bucket}/cli-big", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == data
    # Server-side copy of a multipart object (the cli copies it in parts too).
    aws(server, "s3", "cp", f"s3://{bucket}/cli-big", f"s3://{bucket}/cli-big-copy")
    aws(server, "s3", "cp", f"s3://{bucket}/cli-big-copy", str(tmp_path / "copy"))
    assert (tmp_path / "copy").read_bytes() == data


def test_get_object_attributes(s3, bucket):
    """GetObjectAttributes with boto3: single-part (with its stored checksum) and multipart
    objects, parts paged with MaxParts and PartNumberMarker, and what S3 refuses."""
    body = b"attributes" * 100
    s3.put_object(Bucket=bucket, Key="single", Body=body, ChecksumAlgorithm="SHA256")
    every = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    single = s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=every)
    assert single["ETag"] == hashlib.md5(body).hexdigest(), "GetObjectAttributes gives the ETag without quotes"
    assert single["ObjectSize"] == len(body) and single["StorageClass"] == "STANDARD"
    assert single["Checksum"]["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert "ObjectParts" not in single and single["LastModified"] == s3.head_object(Bucket=bucket, Key="single")["LastModified"]

    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=n, Body=p)["ETag"] for n, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    first = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts", "ObjectSize"], MaxParts=2)
    assert first["ObjectSize"] == sum(map(len, parts))
    assert first["ObjectParts"]["TotalPartsCount"] == 3 and first["ObjectParts"]["IsTruncated"]
    assert [(p["PartNumber"], p["Size"]) for p in first["ObjectParts"]["Parts"]] == [(1, 5 * MIB), (2, 5 * MIB)]
    rest = s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ObjectParts"],
                                    PartNumberMarker=first["ObjectParts"]["NextPartNumberMarker"])
    assert [(p["PartNumber"], p["Size"]) for p in rest["ObjectParts"]["Parts"]] == [(3, 4)] and not rest["ObjectParts"]["IsTruncated"]
    assert s3.get_object_attributes(Bucket=bucket, Key="multi", ObjectAttributes=["ETag"])["ETag"] == etags_md5(etags)

    for call, code in ((lambda: s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"]), "NoSuchKey"),
                       (lambda: s3.get_object_attributes(Bucket=bucket, Key="single", ObjectAttributes=["Colour"]), "InvalidArgument")):
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            call()
        assert error_code(excinfo) == code


def etags_md5(etags):
    digest = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in etags)).hexdigest()
    return f"{digest}-{len(etags)}"
