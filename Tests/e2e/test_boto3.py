"""boto3 with its default settings against a real `nuage serve`."""
import concurrent.futures
import os
import urllib.error
import urllib.request

import botocore
import pytest


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_put_get_round_trip_with_default_checksums(s3, bucket):
    data = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="dir/blob.bin", Body=data, Metadata={"owner": "finance"}, ContentType="application/x-test")
    got = s3.get_object(Bucket=bucket, Key="dir/blob.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"owner": "finance"}
    head = s3.head_object(Bucket=bucket, Key="dir/blob.bin")
    assert head["ContentLength"] == len(data)


def test_etag_is_the_md5_of_the_content(s3, bucket):
    import hashlib
    data = b"nuage etag check"
    put = s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert put["ETag"] == '"%s"' % hashlib.md5(data).hexdigest()


def test_range_get(s3, bucket):
    data = bytes(range(256)) * 5000
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=100-199")["Body"].read() == data[100:200]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-10")["Body"].read() == data[-10:]
    assert s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data) - 5}-")["Body"].read() == data[-5:]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(data)}-")
    assert error_code(excinfo) == "InvalidRange"


def test_list_objects_v2_pagination_with_delimiter(s3, bucket):
    keys = [f"dir{d}/file{i:04d}" for d in range(5) for i in range(400)] + [f"top{i:03d}" for i in range(500)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    seen, prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 97}):
        seen += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert seen == sorted(k for k in keys if "/" not in k)
    assert prefixes == [f"dir{d}/" for d in range(5)]
    everything = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        everything += [o["Key"] for o in page.get("Contents", [])]
    assert everything == sorted(keys) and len(everything) == 2500
    under = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, Prefix="dir3/", PaginationConfig={"PageSize": 150})
             for o in page.get("Contents", [])]
    assert under == sorted(k for k in keys if k.startswith("dir3/"))


def test_presigned_get_and_put_over_plain_http(s3, bucket):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    # The URL signs an empty Content-Type; urllib would otherwise add its form type.
    request = urllib.request.Request(url, data=b"presigned body", method="PUT", headers={"Content-Type": ""})
    assert urllib.request.urlopen(request).status == 200
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"}, ExpiresIn=300)
    assert urllib.request.urlopen(get_url).read() == b"presigned body"
    tampered = get_url.replace("pre?", "pre2?")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(tampered)
    assert excinfo.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in excinfo.value.read()


def test_presigned_put_with_content_type_and_metadata(s3, bucket):
    """boto3 presigns PUTs with signature version 2 by default: ContentType and Metadata travel
    in the query, signed, and the object is stored with them."""
    url = s3.generate_presigned_url("put_object", ExpiresIn=300, Params={
        "Bucket": bucket, "Key": "typed", "ContentType": "text/csv", "Metadata": {"color": "blue"}})
    assert "content-type=text%2Fcsv" in url and "x-amz-meta-color=blue" in url
    request = urllib.request.Request(url, data=b"a,b\n", method="PUT", headers={"Content-Type": "text/csv"})
    assert urllib.request.urlopen(request).status == 200
    head = s3.head_object(Bucket=bucket, Key="typed")
    assert head["ContentType"] == "text/csv" and head["Metadata"] == {"color": "blue"}
    # A header that contradicts the signed query value is not what was signed.
    other = urllib.request.Request(url, data=b"x", method="PUT", headers={"Content-Type": "text/html"})
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(other)
    assert excinfo.value.code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in excinfo.value.read()
    # Metadata changed in the URL breaks the signature.
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(urllib.request.Request(url.replace("color=blue", "color=red"), data=b"x", method="PUT",
                                                      headers={"Content-Type": "text/csv"}))
    assert excinfo.value.code == 403
    assert s3.get_object(Bucket=bucket, Key="typed")["Body"].read() == b"a,b\n"


def test_conditional_writes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_conditional_reads(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert error_code(excinfo) == "PreconditionFailed"


def test_wrong_secret_is_refused(server, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        server.client(secret="not-the-secret").list_objects_v2(Bucket=bucket)
    assert error_code(excinfo) == "SignatureDoesNotMatch"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_anonymous_requests_are_refused(server):
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(server.endpoint + "/")
    assert excinfo.value.code == 403
    body = excinfo.value.read()
    assert b"<Code>AccessDenied</Code>" in body and b"<RequestId>" in body


def test_copy_delete_and_bucket_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", Metadata={"a": "1"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copy me" and got["Metadata"] == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket=bucket, Key="dst2")["Metadata"] == {"b": "2"}
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dst"}, {"Key": "missing"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["dst", "missing"]
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="dst")
    assert error_code(excinfo) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(excinfo) == "BucketNotEmpty"
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.list_objects_v2(Bucket="no-such-bucket-here")
    assert error_code(excinfo) == "NoSuchBucket"


def test_not_implemented_is_an_s3_error(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        s3.get_bucket_website(Bucket=bucket)
    assert error_code(excinfo) == "NotImplemented"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_listings_return_reserved_characters_exactly(s3, bucket):
    """botocore lists with encoding-type=url and decodes what comes back: every reserved
    character, a space, a plus sign and a percent sign come back as stored."""
    keys = ["a b", "a+b", "a%20b", "ü/ß", "x&y=z;#?", "tab\there"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"k")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(keys, key=lambda k: k.encode())
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == sorted(keys, key=lambda k: k.encode())
    assert [p["Prefix"] for p in s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]] == ["ü/"]
