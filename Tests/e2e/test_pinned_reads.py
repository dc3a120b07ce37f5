"""A GET in progress returns the version it started with, whole, whatever happens to the key."""
import hashlib
import os

from boto3.s3.transfer import TransferConfig


def test_slow_gets_survive_overwrite_delete_and_a_completed_upload(server, s3, bucket):
    size = 64 << 20
    original = os.urandom(size)
    # One PUT (no multipart), so that the object is one version of many segments.
    s3.upload_fileobj(__import__("io").BytesIO(original), bucket, "k", Config=TransferConfig(multipart_threshold=1 << 30))
    digest = hashlib.sha256(original).hexdigest()
    # Three slow readers, each started before one of the changes below.
    readers = [s3.get_object(Bucket=bucket, Key="k")["Body"] for _ in range(3)]
    got = [hashlib.sha256() for _ in readers]
    for reader, h in zip(readers, got):
        h.update(reader.read(1 << 20))

    s3.put_object(Bucket=bucket, Key="k", Body=b"new bytes")  # overwrite
    got[0].update(readers[0].read(8 << 20))
    s3.delete_object(Bucket=bucket, Key="k")  # delete
    got[1].update(readers[1].read(8 << 20))
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]  # a completed upload replaces it
    part = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"multipart")
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    for reader, h in zip(readers, got):
        while chunk := reader.read(1 << 20):
            h.update(chunk)
    assert [h.hexdigest() for h in got] == [digest] * 3, "every GET returned the old bytes whole"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"multipart"
