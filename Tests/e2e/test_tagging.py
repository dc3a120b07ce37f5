"""Object tags with boto3: on PUT, multipart and copies (COPY and REPLACE), Get/Put/DeleteObjectTagging,
x-amz-tagging-count, S3's limits and errors, and tags never in a provider's bytes."""
import io
import os

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig

from conftest import Server
from test_sse_c import assert_nowhere, refused

MARKER = "tagvaluemarker7c1"


def tags(s3, bucket, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_tags_on_writes_copies_and_in_place(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged", Tagging="project=nuage&team=storage%20core")
    assert tags(s3, bucket, "t") == {"project": "nuage", "team": "storage core"}
    assert s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    assert "x-amz-tagging" not in s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]
    etag = s3.head_object(Bucket=bucket, Key="t")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "stage", "Value": "prod"}]})
    assert tags(s3, bucket, "t") == {"stage": "prod"}
    assert s3.head_object(Bucket=bucket, Key="t")["ETag"] == etag and s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"tagged"
    # Copies keep the source's tags, or take new ones.
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "t"})
    assert tags(s3, bucket, "kept") == {"stage": "prod"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "t"}, TaggingDirective="REPLACE", Tagging="a=1")
    assert tags(s3, bucket, "replaced") == {"a": "1"}
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource={"Bucket": bucket, "Key": "t"}, TaggingDirective="REPLACE")
    assert tags(s3, bucket, "cleared") == {}
    assert refused(lambda: s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "t"},
                                          TaggingDirective="COPY", Tagging="a=1")) == (400, "InvalidArgument")
    # In place, with the metadata kept.
    s3.copy_object(Bucket=bucket, Key="t", CopySource={"Bucket": bucket, "Key": "t"}, TaggingDirective="REPLACE", Tagging="b=2")
    assert tags(s3, bucket, "t") == {"b": "2"}
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert tags(s3, bucket, "t") == {} and "TagCount" not in s3.get_object(Bucket=bucket, Key="t")
    # Multipart: the upload's tags go to the object.
    s3.upload_fileobj(io.BytesIO(os.urandom(6 << 20)), bucket, "multi", ExtraArgs={"Tagging": "kind=backup"},
                      Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    assert tags(s3, bucket, "multi") == {"kind": "backup"}
    assert refused(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")


def test_bucket_tags(s3, bucket):
    assert refused(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "storage"}, {"Key": "cost", "Value": "42"}]})
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]} == {"team": "storage", "cost": "42"}
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": many})
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50
    assert refused(lambda: s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": many + [{"Key": "k50", "Value": "v"}]})) == (400, "InvalidTag")
    s3.delete_bucket_tagging(Bucket=bucket)
    assert refused(lambda: s3.get_bucket_tagging(Bucket=bucket)) == (404, "NoSuchTagSet")


@pytest.mark.parametrize("tag_set, code", [
    ([{"Key": f"k{i}", "Value": "v"} for i in range(11)], "InvalidTag"),
    ([{"Key": "k" * 129, "Value": "v"}], "InvalidTag"),
    ([{"Key": "k", "Value": "v" * 257}], "InvalidTag"),
    ([{"Key": "aws:reserved", "Value": "v"}], "InvalidTag"),
    ([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], "InvalidTag"),
    ([{"Key": "bad*char", "Value": "v"}], "InvalidTag"),
])
def test_limits_and_errors(s3, bucket, tag_set, code):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", Tagging="keep=me")
    assert refused(lambda: s3.put_object_tagging(Bucket=bucket, Key="o", Tagging={"TagSet": tag_set})) == (400, code)
    assert tags(s3, bucket, "o") == {"keep": "me"}, "a refused change changes nothing"
    header = "&".join(f"{t['Key']}={t['Value']}" for t in tag_set)
    assert refused(lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", Tagging=header)) == (400, code)


def test_tags_are_in_no_provider_byte_and_come_back_after_recovery():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="tagged")
        s3.put_object(Bucket="tagged", Key="a", Body=b"a", Tagging=f"secret={MARKER}")
        s3.put_object(Bucket="tagged", Key="b", Body=b"b")
        s3.put_object_tagging(Bucket="tagged", Key="b", Tagging={"TagSet": [{"Key": "later", "Value": MARKER}]})
        s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "bucket", "Value": MARKER}]})
        server.process.terminate()
        server.process.wait(timeout=30)
        assert_nowhere([MARKER.encode()], os.path.join(server.data, "providers"))
        audit = server.run("audit", "show")
        assert "s3:PutObjectTagging" in audit, audit[-2000:]
        server.lose_catalog()
        assert server.run("recover", "--json")
        server.start()
        s3 = server.client()
        assert tags(s3, "tagged", "a") == {"secret": MARKER} and tags(s3, "tagged", "b") == {"later": MARKER}
        assert s3.get_bucket_tagging(Bucket="tagged")["TagSet"] == [{"Key": "bucket", "Value": MARKER}]
    finally:
        server.stop()
