"""Every row of the compatibility table (`nuage compatibility --json`) against a real server.

For each row the test picks operations and values that reach it (no earlier case of the same
header or parameter matches them): every operation and value the row names, or one operation for
"any other". It sends signed requests carrying that header or sub-resource and checks what the
row documents: refused requests get its status and error code and change nothing at all (no
bucket, object, metadata, upload or part differs afterwards); honored and no-op requests succeed
and carry the operation out, with what an honored header promises.
"""
import base64
import datetime
import concurrent.futures
import hashlib
import http.client
import itertools
import json
import subprocess
import urllib.parse
import zlib
from dataclasses import dataclass, field
from xml.etree import ElementTree

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions
import pytest

from conftest import nuage_binary

OPERATIONS = ["ListBuckets", "CreateBucket", "DeleteBucket", "HeadBucket", "GetBucketLocation", "GetBucketVersioning",
              "ListObjects", "ListObjectsV2", "ListMultipartUploads", "DeleteObjects", "PutObject", "CopyObject",
              "GetObject", "HeadObject", "DeleteObject", "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
              "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "GetBucketEncryption", "PutBucketEncryption",
              "DeleteBucketEncryption", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging", "GetBucketTagging",
              "PutBucketTagging", "DeleteBucketTagging", "GetBucketAcl", "PutBucketAcl", "GetObjectAcl", "PutObjectAcl",
              "GetBucketOwnershipControls", "PutBucketOwnershipControls", "GetBucketCors", "PutBucketCors", "DeleteBucketCors",
              "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
              "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle",
              "GetObjectAttributes", "PutBucketVersioning", "ListObjectVersions", "GetObjectLockConfiguration",
              "PutObjectLockConfiguration", "GetObjectRetention", "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold"]
# Operations that need a bucket created with Object Lock (and its object `dst` under retention).
LOCKED_OPERATIONS = {"GetObjectLockConfiguration", "PutObjectLockConfiguration", "GetObjectRetention", "PutObjectRetention",
                     "GetObjectLegalHold", "PutObjectLegalHold"}
LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold")
RETAINED = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
# Writes first: a refusal is best shown by a request that would have changed something.
PREFERENCE = ["PutObject", "CopyObject", "DeleteObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
              "AbortMultipartUpload", "UploadPartCopy", "CreateBucket", "DeleteBucket", "DeleteObjects", "GetObject",
              "ListObjectsV2", "ListObjects", "ListParts", "ListMultipartUploads", "GetBucketLocation",
              "GetBucketVersioning", "PutBucketEncryption", "DeleteBucketEncryption", "GetBucketEncryption",
              "PutObjectTagging", "DeleteObjectTagging", "GetObjectTagging", "PutBucketTagging", "DeleteBucketTagging",
              "GetBucketTagging", "PutObjectAcl", "PutBucketAcl", "PutBucketOwnershipControls", "GetObjectAcl", "GetBucketAcl",
              "GetBucketOwnershipControls", "PutBucketCors", "DeleteBucketCors", "GetBucketCors", "PutBucketPolicy", "DeleteBucketPolicy",
              "GetBucketPolicy", "GetBucketPolicyStatus", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle",
              "GetBucketLifecycleConfiguration", "GetObjectAttributes", "PutObjectRetention", "PutObjectLegalHold",
              "PutObjectLockConfiguration", "PutBucketVersioning", "GetObjectRetention", "GetObjectLegalHold",
              "GetObjectLockConfiguration", "ListObjectVersions", "ListBuckets", "HeadObject", "HeadBucket"]
assert sorted(PREFERENCE) == sorted(OPERATIONS)
# Operations whose body is an XML document (checksummed like any body, but not object content).
XML_BODY_WRITES = ("DeleteObjects", "PutBucketEncryption", "PutObjectTagging", "PutBucketTagging", "PutBucketAcl",
                   "PutObjectAcl", "PutBucketOwnershipControls", "PutBucketCors", "PutBucketPolicy",
                   "PutBucketLifecycleConfiguration", "PutBucketVersioning", "PutObjectLockConfiguration", "PutObjectRetention",
                   "PutObjectLegalHold")

# Operations a real client would use with a header or sub-resource, tried before PREFERENCE
# (DELETE /bucket?cors is DeleteBucketCors: the bucket must survive it).
BUCKET_SUBRESOURCES = ["versions", "policy", "policyStatus", "cors", "lifecycle", "encryption", "website", "notification",
                       "replication", "object-lock", "logging", "accelerate", "requestPayment", "analytics", "metrics",
                       "inventory", "intelligent-tiering", "ownershipControls", "publicAccessBlock", "metadataTable", "session"]
PREFERRED = {
    ("header", "x-amz-checksum-algorithm"): ["CreateMultipartUpload"],
    ("header", "x-amz-checksum-type"): ["CreateMultipartUpload"],
    ("header", "x-amz-mfa"): ["DeleteObject"],
    ("header", "x-amz-object-attributes"): ["GetObjectAttributes"],
    ("header", "x-amz-max-parts"): ["GetObjectAttributes"],
    ("header", "x-amz-part-number-marker"): ["GetObjectAttributes"],
    ("header", "x-amz-bypass-governance-retention"): ["DeleteObject"],
    ("header", "x-amz-expected-bucket-owner"): ["DeleteBucket"],
    ("header", "x-amz-source-expected-bucket-owner"): ["CopyObject"],
    ("header", "x-amz-copy-source-server-side-encryption-customer-algorithm"): ["CopyObject"],
    ("header", "x-amz-copy-source-server-side-encryption-customer-key"): ["CopyObject"],
    ("header", "x-amz-copy-source-server-side-encryption-customer-key-md5"): ["CopyObject"],
    ("parameter", "tagging"): ["DeleteObject"],
    ("parameter", "versionId"): ["DeleteObject"],
    **{("parameter", name): ["DeleteBucket"] for name in BUCKET_SUBRESOURCES},
}
# Operations that a header or parameter would route elsewhere (PUT with x-amz-copy-source is a
# copy; GET /bucket?location is GetBucketLocation, not a listing).
REROUTED = {
    ("header", "x-amz-copy-source"): {"PutObject", "UploadPart"},
    ("parameter", "location"): {"GetBucketVersioning", "ListMultipartUploads", "ListObjects", "ListObjectsV2", "ListObjectVersions",
                                "GetObjectLockConfiguration"},
    ("parameter", "versioning"): {"CreateBucket", "ListMultipartUploads", "ListObjects", "ListObjectsV2", "ListObjectVersions",
                                  "GetObjectLockConfiguration"},
    ("parameter", "versions"): {"ListMultipartUploads", "ListObjects", "ListObjectsV2", "GetObjectLockConfiguration"},
    ("parameter", "object-lock"): {"CreateBucket", "ListMultipartUploads", "ListObjects", "ListObjectsV2"},
    ("parameter", "retention"): {"PutObject", "CopyObject", "UploadPart", "UploadPartCopy", "GetObject", "ListParts"},
    ("parameter", "legal-hold"): {"PutObject", "CopyObject", "UploadPart", "UploadPartCopy", "GetObject", "ListParts"},
    ("parameter", "uploads"): {"ListObjects", "ListObjectsV2"},
    ("parameter", "encryption"): {"CreateBucket", "DeleteBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "acl"): {"PutObject", "CopyObject", "GetObject", "CreateBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "policy"): {"CreateBucket", "DeleteBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "policyStatus"): {"ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "attributes"): {"GetObject"},
    ("parameter", "lifecycle"): {"CreateBucket", "DeleteBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "cors"): {"CreateBucket", "DeleteBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "ownershipControls"): {"CreateBucket", "ListObjects", "ListObjectsV2", "ListMultipartUploads"},
    ("parameter", "tagging"): {"PutObject", "CopyObject", "GetObject", "DeleteObject", "CreateBucket", "DeleteBucket", "ListObjects",
                               "ListObjectsV2", "ListMultipartUploads"},
}

# A policy statement that changes nothing here: it denies only requests from TEST-NET-1.
def NEVER_DENIED(bucket):
    return {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.1/32"}}}


# Lifecycle rules that expire nothing the rows use.
LIFECYCLE = (b"<LifecycleConfiguration><Rule><ID>later</ID><Filter><Prefix>never/</Prefix></Filter><Status>Enabled</Status>"
             b"<Expiration><Days>3650</Days></Expiration></Rule></LifecycleConfiguration>")
SIGNER = "<set by the signer>"   # x-amz-date, x-amz-content-sha256
CHUNKED = "<aws-chunked body>"   # x-amz-decoded-content-length: the payload length of an aws-chunked body
PAST, FUTURE = "Sat, 01 Jan 2000 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"
NO_MATCH = '"0123456789abcdef0123456789abcdef"'
CUSTOMER_KEY = b"0123456789abcdef0123456789abcdef"
CUSTOMER_KEY_B64 = base64.b64encode(CUSTOMER_KEY).decode()
CUSTOMER_KEY_MD5 = base64.b64encode(hashlib.md5(CUSTOMER_KEY).digest()).decode()
# The KMS key (nuage kms create) that the example key id's ARN names, for the SSE-KMS rows.
KMS_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
SSE_KMS = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id")
SSE_C, SSE_C_SOURCE = "x-amz-server-side-encryption-customer-", "x-amz-copy-source-server-side-encryption-customer-"
CUSTOMER = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": CUSTOMER_KEY}

# Concrete names for prefix rows.
PREFIX_EXAMPLES = {"x-amz-meta-": "x-amz-meta-color", "x-amz-sdk-": "x-amz-sdk-invocation-id", "x-amz-grant-": "x-amz-grant-read"}
# Values for rows that accept any value: the first one no earlier case of the header names is sent.
# {placeholders} are filled in from the request (checksums of its body, ETags of its objects). A
# dict picks by the row's support: no-op rows get a value that would stop the operation if it
# were wrongly honored.
VALUES = {
    "x-amz-date": [SIGNER],
    "x-amz-content-sha256": [SIGNER],
    "x-amz-decoded-content-length": [CHUNKED],
    "x-amz-trailer": ["x-amz-checksum-crc32"],
    "x-amz-user-agent": ["nuage-e2e/1.0"],
    "x-amz-sdk-": ["3f1c2e4a-9b7d-4c55-8e21-0a6b5d4c3f2e"],
    "x-amz-security-token": ["IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"],
    "x-amz-checksum-crc32": ["{crc32}"],
    "x-amz-checksum-crc32c": ["{crc32c}"],
    "x-amz-checksum-crc64nvme": ["{crc64nvme}"],
    "x-amz-checksum-sha1": ["{sha1}"],
    "x-amz-checksum-sha256": ["{sha256}"],
    "x-amz-checksum-algorithm": ["MD5"],
    "x-amz-sdk-checksum-algorithm": ["MD5"],
    "x-amz-checksum-type": ["PARTIAL"],
    "x-amz-checksum-mode": ["DISABLED"],
    "x-amz-meta-": ["blue"],
    "x-amz-copy-source": ["{bucket}/src"],
    "x-amz-copy-source-if-match": ["{source_etag}"],
    "x-amz-copy-source-if-none-match": [NO_MATCH],
    "x-amz-copy-source-if-modified-since": [PAST],
    "x-amz-copy-source-if-unmodified-since": [FUTURE],
    "x-amz-copy-source-range": ["bytes=0-3"],
    "x-amz-metadata-directive": ["MERGE"],
    "x-amz-tagging-directive": ["MERGE"],
    "x-amz-server-side-encryption": ["AES128"],
    "x-amz-server-side-encryption-aws-kms-key-id": ["arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
    "x-amz-server-side-encryption-context": [base64.b64encode(b'{"project":"nuage"}').decode()],
    "x-amz-server-side-encryption-bucket-key-enabled": ["yes"],
    "x-amz-server-side-encryption-customer-algorithm": ["AES256"],
    "x-amz-server-side-encryption-customer-key": [CUSTOMER_KEY_B64],
    "x-amz-server-side-encryption-customer-key-md5": [CUSTOMER_KEY_MD5],
    "x-amz-copy-source-server-side-encryption-customer-algorithm": ["AES256"],
    "x-amz-copy-source-server-side-encryption-customer-key": [CUSTOMER_KEY_B64],
    "x-amz-copy-source-server-side-encryption-customer-key-md5": [CUSTOMER_KEY_MD5],
    "x-amz-object-lock-mode": ["GOVERNANCE"],
    "x-amz-object-lock-retain-until-date": ["2100-01-01T00:00:00.000Z"],
    "x-amz-object-lock-legal-hold": ["ON"],
    "x-amz-bucket-object-lock-enabled": ["maybe"],
    "x-amz-bypass-governance-retention": ["true"],
    "x-amz-mfa": ["arn:aws:iam::111122223333:mfa/user 123456"],
    "x-amz-acl": ["public-read"],
    "x-amz-grant-": ['id="111122223333"'],
    "x-amz-object-ownership": ["ObjectWriter"],
    "x-amz-storage-class": ["GLACIER"],
    "x-amz-website-redirect-location": ["/elsewhere.html"],
    "x-amz-tagging": ["project=nuage"],
    "x-amz-object-attributes": ["ETag,ObjectSize"],
    "x-amz-max-parts": ["1"],
    "x-amz-part-number-marker": ["0"],
    "x-amz-request-payer": ["requester"],
    "x-amz-expected-bucket-owner": ["111122223333"],
    "x-amz-source-expected-bucket-owner": ["111122223333"],
    "x-amz-optional-object-attributes": ["RestoreStatus"],
    "x-amz-object-attributes": ["ETag"],
    "content-md5": ["{md5}"],
    "if-match": {"no-op": [NO_MATCH], "default": ["{etag}"]},
    "if-none-match": {"no-op": ["{etag}"], "default": [NO_MATCH]},
    "if-modified-since": {"no-op": [FUTURE], "default": [PAST]},
    "if-unmodified-since": {"no-op": [PAST], "default": [FUTURE]},
    "range": ["bytes=0-3"],
    "versionId": ["{version}"],
    "X-Amz-Security-Token": ["IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"],
}

SOURCE, EXISTING, NEW, PART_ONE, PART_TWO = (b"the copy source\n", b"an existing object\n", b"new content\n",
                                            b"part one of an upload\n", b"part two\n")


def load_rows():
    result = subprocess.run([nuage_binary(), "compatibility", "--json"], capture_output=True, text=True, timeout=60, check=True)
    rows, seen = json.loads(result.stdout), {}
    params = []
    for row in rows:
        index = seen.setdefault((row["kind"], row["name"]), itertools.count())
        params.append(pytest.param(row, id=f"{row['kind']}:{row['name']}:{next(index)}"))
    return rows, params


ROWS, ROW_PARAMS = load_rows()


@pytest.fixture(scope="module")
def s3(server):
    """One client for the module's many small requests (overrides conftest's per-test client)."""
    return server.client()


# MARK: Signed raw requests

def reflected_crc(data, polynomial, width):
    """A reflected CRC with initial value and final XOR all ones, bit by bit."""
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (polynomial if crc & 1 else 0)
    return crc ^ mask


def crc32c(data):
    return reflected_crc(data, 0x82F63B78, 32)


def crc64nvme(data):
    return reflected_crc(data, 0x9A6C9329AC4BC9B5, 64)


def checksums(body):
    """The values of Content-MD5 and x-amz-checksum-* for a body, as S3 writes them (base64)."""
    b64 = lambda digest: base64.b64encode(digest).decode()
    return {"md5": b64(hashlib.md5(body).digest()), "crc32": b64(zlib.crc32(body).to_bytes(4, "big")),
            "crc32c": b64(crc32c(body).to_bytes(4, "big")), "crc64nvme": b64(crc64nvme(body).to_bytes(8, "big")),
            "sha1": b64(hashlib.sha1(body).digest()),
            "sha256": b64(hashlib.sha256(body).digest())}


def aws_chunked(payload, trailer_name):
    """An aws-chunked body of one chunk and a checksum trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER)."""
    algorithm = trailer_name.removeprefix("x-amz-checksum-")
    return b"%x\r\n%s\r\n0\r\n%s:%s\r\n\r\n" % (len(payload), payload, trailer_name.encode(), checksums(payload)[algorithm].encode())


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def code(self):
        text = self.body.decode(errors="replace")
        return text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else None


def signed(server, method, path, query="", body=b"", headers=None, unsigned=None, trailer=False):
    """Sends a SigV4-signed request (every header in `headers` signed; `unsigned` added after signing)."""
    target = path + ("?" + query if query else "")
    request = botocore.awsrequest.AWSRequest(method=method, url=server.endpoint + target, data=body, headers=dict(headers or {}))
    if trailer:
        # botocore signs STREAMING-UNSIGNED-PAYLOAD-TRAILER for a body whose checksum is a trailer.
        request.context["checksum"] = {"request_algorithm": {"in": "trailer"}}
    credentials = botocore.credentials.Credentials(server.access_key, server.secret_key)
    botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    parsed = urllib.parse.urlsplit(server.endpoint)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True, skip_host=True)
        connection.putheader("Host", parsed.netloc)
        for name, value in [*request.headers.items(), *(unsigned or {}).items()]:
            if name.lower() != "host":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


# MARK: Buckets with objects and an upload, and their state

@dataclass
class Scene:
    bucket: str     # holds src, dst and an upload on mpu with one part
    empty: str      # an empty bucket (the target of DeleteBucket)
    absent: str     # a bucket name nobody created (the target of CreateBucket)
    upload: str = ""
    part_etag: str = ""
    etags: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)  # key -> the version id of src and dst


def create_scene(s3, prefix, locked=False):
    """A scene; `locked`: its bucket has Object Lock, and dst is under GOVERNANCE retention until 2100."""
    scene = Scene(prefix, f"{prefix}-empty", f"{prefix}-new")
    s3.create_bucket(Bucket=scene.bucket, **({"ObjectLockEnabledForBucket": True} if locked else {}))
    s3.create_bucket(Bucket=scene.empty)
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": RETAINED, "ObjectLockLegalHoldStatus": "OFF"} if locked else {}
    for key, body, extra in (("src", SOURCE, {}), ("dst", EXISTING, dict(Metadata={"kept": "yes"}, **lock))):
        written = s3.put_object(Bucket=scene.bucket, Key=key, Body=body, **extra)
        scene.etags[key], scene.versions[key] = written["ETag"], written.get("VersionId", "null")
    scene.upload = s3.create_multipart_upload(Bucket=scene.bucket, Key="mpu")["UploadId"]
    scene.part_etag = s3.upload_part(Bucket=scene.bucket, Key="mpu", UploadId=scene.upload, PartNumber=1, Body=PART_ONE)["ETag"]
    return scene


def remove_scene(s3, scene):
    for upload in s3.list_multipart_uploads(Bucket=scene.bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=scene.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    # Every version and delete marker goes (a locked scene's under GOVERNANCE, bypassed; holds lifted).
    listing = s3.list_object_versions(Bucket=scene.bucket)
    for entry in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        try:
            s3.put_object_legal_hold(Bucket=scene.bucket, Key=entry["Key"], VersionId=entry["VersionId"], LegalHold={"Status": "OFF"})
        except botocore.exceptions.ClientError:
            pass  # not a bucket with Object Lock, or a delete marker
        s3.delete_object(Bucket=scene.bucket, Key=entry["Key"], VersionId=entry["VersionId"], BypassGovernanceRetention=True)
    for name in (scene.bucket, scene.empty, scene.absent):
        try:
            s3.delete_bucket(Bucket=name)
        except botocore.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "NoSuchBucket", error


def state(server, scene):
    """Everything a request could change in a scene: which of its buckets exist, their listings,
    every object (ETag, body, metadata, content type) and every upload with its parts. (Raw
    requests, unparsed where they can be: this runs after every refusal.)"""
    def get(path, query=""):
        response = signed(server, "GET", path, query)
        assert response.status == 200, (path, query, response)
        return response

    def elements(body, name):
        return [element for element in ElementTree.fromstring(body).iter() if element.tag.rpartition("}")[2] == name]

    def text(element, name):
        return next(child.text for child in element if child.tag.rpartition("}")[2] == name)

    names = {text(b, "Name") for b in elements(get("/").body, "Bucket")} & {scene.bucket, scene.empty, scene.absent}
    result = {"buckets": sorted(names)}
    for name in sorted(names):
        listing = get(f"/{name}", "list-type=2").body
        result[name] = listing
        for item in elements(listing, "Contents"):
            got = get(f"/{name}/{text(item, 'Key')}")
            kept = {h: v for h, v in got.headers.items() if h in ("etag", "content-type") or h.startswith("x-amz-meta-")}
            result[(name, text(item, "Key"))] = (got.body, kept)
        uploads = get(f"/{name}", "uploads").body
        result[(name, "uploads")] = uploads
        for upload in elements(uploads, "Upload"):
            query = "uploadId=" + urllib.parse.quote(text(upload, "UploadId"), safe="-_.~")
            result[(name, text(upload, "Key"), text(upload, "UploadId"))] = get(f"/{name}/{text(upload, 'Key')}", query).body
    return result


class Scenes:
    """A shared scene for requests that must change nothing (rebuilt if one did), and fresh
    scenes for requests that succeed."""

    def __init__(self, server, s3):
        self.server, self.s3, self.count, self.made = server, s3, itertools.count(), []
        self.kept, self.baseline = None, None

    def fresh(self, locked=False):
        scene = create_scene(self.s3, f"compat-{next(self.count)}", locked)
        self.made.append(scene)
        return scene

    def shared(self):
        if self.kept is None:
            self.kept = self.fresh()
            self.baseline = state(self.server, self.kept)
        return self.kept

    def changes(self):
        """What requests since the last call changed in the shared scene (None: nothing); a changed
        scene is replaced."""
        now = state(self.server, self.kept)
        if now == self.baseline:
            return None
        self.kept = None
        return f"before: {self.baseline}\nafter: {now}"

    def remove(self):
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda scene: remove_scene(self.s3, scene), self.made))


@pytest.fixture(scope="module")
def scenes(server, s3):
    server.run("kms", "create", KMS_KEY, check=False)  # once per gateway: names are never reused
    scenes = Scenes(server, s3)
    yield scenes
    scenes.remove()


# MARK: Choosing requests that reach a row

def matches(row, operation, value):
    """Whether a case of the table applies: as the server decides (operations null: any)."""
    in_operations = row["operations"] is None or operation in row["operations"]
    in_values = row["values"] is None or value.strip().lower() in [v.lower() for v in row["values"]]
    return in_operations and in_values


def plans(row):
    """(operation, value) pairs the row decides (it matches them and no earlier case does): every
    operation it names and every value it names, or for "any other operation" the preferred one."""
    key = (row["kind"], row["name"])
    same = [r for r in ROWS if (r["kind"], r["name"]) == key]
    earlier = same[:next(i for i, r in enumerate(same) if r is row)]
    if row["values"] is not None:
        values = row["values"]
    else:
        candidates = VALUES.get(row["name"], [None])
        if isinstance(candidates, dict):
            candidates = candidates.get(row["support"], candidates["default"])
        taken = {v.lower() for r in earlier for v in (r["values"] or [])}
        values = [v for v in candidates if v is None or v.lower() not in taken]
    allowed = row["operations"] or [op for op in OPERATIONS if op not in row["otherOperations"]]
    order = PREFERRED.get(key, []) + PREFERENCE
    allowed = [op for op in sorted(allowed, key=order.index) if op not in REROUTED.get(key, ())]

    def reaches(operation, value):
        return not any(matches(r, operation, value or "") for r in earlier)

    def first(pairs):
        return next(((op, v) for op, v in pairs if reaches(op, v)), None)

    if row["operations"]:
        found = [first((op, v) for v in values) for op in allowed]
    else:
        found = [first((op, v) for v in values for op in allowed)]
    found += [first((op, v) for op in allowed) for v in values[1:]]
    if not found or None in found:
        pytest.fail(f"no operation and value reach {key} {row}: the table has a dead case")
    return list(dict.fromkeys(found))


@dataclass
class Request:
    method: str
    bucket: str
    key: str = None
    query: list = field(default_factory=list)
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    payload: bytes = b""   # the decoded body of an aws-chunked request
    trailer: bool = False  # an aws-chunked body with a checksum trailer

    @property
    def path(self):
        return "/" + "/".join(urllib.parse.quote(p, safe="") for p in (self.bucket, self.key) if p)

    @property
    def query_string(self):
        quote = lambda text: urllib.parse.quote(text, safe="-_.~")
        return "&".join(quote(n) if v is None else f"{quote(n)}={quote(v)}" for n, v in self.query)

    def send(self, server):
        return signed(server, self.method, self.path, self.query_string, self.body, self.headers, trailer=self.trailer)

    def __str__(self):
        return f"{self.method} {self.path}?{self.query_string} {self.headers}"


def base_request(operation, scene):
    """The plain request for an operation, on the scene's buckets, objects and upload."""
    b, upload = scene.bucket, ("uploadId", scene.upload)
    copy = {"x-amz-copy-source": f"{b}/src"}
    complete = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{scene.part_etag}</ETag></Part>"
                "</CompleteMultipartUpload>").encode()
    return {
        "ListBuckets": lambda: Request("GET", None),
        "CreateBucket": lambda: Request("PUT", scene.absent),
        "DeleteBucket": lambda: Request("DELETE", scene.empty),
        "HeadBucket": lambda: Request("HEAD", b),
        "GetBucketLocation": lambda: Request("GET", b, query=[("location", None)]),
        "GetBucketVersioning": lambda: Request("GET", b, query=[("versioning", None)]),
        "ListObjects": lambda: Request("GET", b),
        "ListObjectsV2": lambda: Request("GET", b, query=[("list-type", "2")]),
        "ListMultipartUploads": lambda: Request("GET", b, query=[("uploads", None)]),
        "DeleteObjects": lambda: Request("POST", b, query=[("delete", None)], body=b"<Delete><Object><Key>dst</Key></Object></Delete>"),
        "PutObject": lambda: Request("PUT", b, "dst", body=NEW),
        "CopyObject": lambda: Request("PUT", b, "dst", headers=dict(copy)),
        "GetObject": lambda: Request("GET", b, "dst"),
        "HeadObject": lambda: Request("HEAD", b, "dst"),
        "DeleteObject": lambda: Request("DELETE", b, "dst"),
        "CreateMultipartUpload": lambda: Request("POST", b, "dst", query=[("uploads", None)]),
        "UploadPart": lambda: Request("PUT", b, "mpu", query=[("partNumber", "2"), upload], body=PART_TWO),
        "UploadPartCopy": lambda: Request("PUT", b, "mpu", query=[("partNumber", "2"), upload], headers=dict(copy)),
        "CompleteMultipartUpload": lambda: Request("POST", b, "mpu", query=[upload], body=complete),
        "AbortMultipartUpload": lambda: Request("DELETE", b, "mpu", query=[upload]),
        "ListParts": lambda: Request("GET", b, "mpu", query=[upload]),
        "GetBucketEncryption": lambda: Request("GET", b, query=[("encryption", None)]),
        "PutBucketEncryption": lambda: Request("PUT", b, query=[("encryption", None)], body=(
            b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>"
            b"</ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>")),
        "DeleteBucketEncryption": lambda: Request("DELETE", b, query=[("encryption", None)]),
        "GetObjectTagging": lambda: Request("GET", b, "dst", query=[("tagging", None)]),
        "PutObjectTagging": lambda: Request("PUT", b, "dst", query=[("tagging", None)], body=(
            b"<Tagging><TagSet><Tag><Key>project</Key><Value>nuage</Value></Tag></TagSet></Tagging>")),
        "DeleteObjectTagging": lambda: Request("DELETE", b, "dst", query=[("tagging", None)]),
        "GetBucketTagging": lambda: Request("GET", b, query=[("tagging", None)]),
        "PutBucketTagging": lambda: Request("PUT", b, query=[("tagging", None)], body=(
            b"<Tagging><TagSet><Tag><Key>team</Key><Value>storage</Value></Tag></TagSet></Tagging>")),
        "DeleteBucketTagging": lambda: Request("DELETE", b, query=[("tagging", None)]),
        "GetBucketAcl": lambda: Request("GET", b, query=[("acl", None)]),
        "PutBucketAcl": lambda: Request("PUT", b, query=[("acl", None)], body=(
            b"<AccessControlPolicy><Owner><ID>nuage</ID></Owner><AccessControlList><Grant><Grantee><ID>nuage</ID></Grantee>"
            b"<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>")),
        "GetObjectAcl": lambda: Request("GET", b, "dst", query=[("acl", None)]),
        "PutObjectAcl": lambda: Request("PUT", b, "dst", query=[("acl", None)], body=(
            b"<AccessControlPolicy><Owner><ID>nuage</ID></Owner><AccessControlList><Grant><Grantee><ID>nuage</ID></Grantee>"
            b"<Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>")),
        "GetBucketOwnershipControls": lambda: Request("GET", b, query=[("ownershipControls", None)]),
        "PutBucketOwnershipControls": lambda: Request("PUT", b, query=[("ownershipControls", None)], body=(
            b"<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>")),
        "GetBucketCors": lambda: Request("GET", b, query=[("cors", None)]),
        "PutBucketCors": lambda: Request("PUT", b, query=[("cors", None)], body=(
            b"<CORSConfiguration><CORSRule><AllowedOrigin>https://example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
            b"</CORSRule></CORSConfiguration>")),
        "DeleteBucketCors": lambda: Request("DELETE", b, query=[("cors", None)]),
        "GetBucketPolicy": lambda: Request("GET", b, query=[("policy", None)]),
        "PutBucketPolicy": lambda: Request("PUT", b, query=[("policy", None)], body=json.dumps({
            "Version": "2012-10-17", "Statement": [NEVER_DENIED(b)]}).encode()),
        "DeleteBucketPolicy": lambda: Request("DELETE", b, query=[("policy", None)]),
        "GetBucketPolicyStatus": lambda: Request("GET", b, query=[("policyStatus", None)]),
        "GetBucketLifecycleConfiguration": lambda: Request("GET", b, query=[("lifecycle", None)]),
        "PutBucketLifecycleConfiguration": lambda: Request("PUT", b, query=[("lifecycle", None)], body=LIFECYCLE),
        "DeleteBucketLifecycle": lambda: Request("DELETE", b, query=[("lifecycle", None)]),
        "GetObjectAttributes": lambda: Request("GET", b, "dst", query=[("attributes", None)], headers={"x-amz-object-attributes": "ETag"}),
        "PutBucketVersioning": lambda: Request("PUT", b, query=[("versioning", None)],
                                               body=b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
        "ListObjectVersions": lambda: Request("GET", b, query=[("versions", None)]),
        "GetObjectLockConfiguration": lambda: Request("GET", b, query=[("object-lock", None)]),
        "PutObjectLockConfiguration": lambda: Request("PUT", b, query=[("object-lock", None)], body=(
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode>"
            b"<Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>")),
        "GetObjectRetention": lambda: Request("GET", b, "dst", query=[("retention", None)]),
        "PutObjectRetention": lambda: Request("PUT", b, "dst", query=[("retention", None)], body=(
            b"<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2101-01-01T00:00:00.000Z</RetainUntilDate></Retention>")),
        "GetObjectLegalHold": lambda: Request("GET", b, "dst", query=[("legal-hold", None)]),
        "PutObjectLegalHold": lambda: Request("PUT", b, "dst", query=[("legal-hold", None)], body=b"<LegalHold><Status>OFF</Status></LegalHold>"),
    }[operation]()


def header_name(row):
    return PREFIX_EXAMPLES.get(row["name"], row["name"]) if row["prefix"] else row["name"]


def customer_key_headers(prefix):
    return {prefix + "algorithm": "AES256", prefix + "key": CUSTOMER_KEY_B64, prefix + "key-md5": CUSTOMER_KEY_MD5}


def under_customer_key(operation, scene, s3, source):
    """An honored SSE-C header needs the object or upload it reads to be under that key: the
    scene's copy source, its `dst` object or its upload (with part 1) are made again under it."""
    b = scene.bucket
    if source:
        scene.etags["src"] = s3.put_object(Bucket=b, Key="src", Body=SOURCE, **CUSTOMER)["ETag"]
    elif operation in ("GetObject", "HeadObject", "GetObjectAttributes"):
        scene.etags["dst"] = s3.put_object(Bucket=b, Key="dst", Body=EXISTING, Metadata={"kept": "yes"}, **CUSTOMER)["ETag"]
    elif operation in ("UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "ListParts"):
        s3.abort_multipart_upload(Bucket=b, Key="mpu", UploadId=scene.upload)
        scene.upload = s3.create_multipart_upload(Bucket=b, Key="mpu", **CUSTOMER)["UploadId"]
        scene.part_etag = s3.upload_part(Bucket=b, Key="mpu", UploadId=scene.upload, PartNumber=1, Body=PART_ONE,
                                         **CUSTOMER)["ETag"]


def with_checksum_upload(name, value, scene, s3):
    """A whole-object checksum on CompleteMultipartUpload needs an upload that promised it: the
    scene's upload is made again with that algorithm (and type), part 1 with its checksum; the
    value the completion must carry is returned."""
    algorithm = "crc32" if name == "x-amz-checksum-type" else name.removeprefix("x-amz-checksum-")
    kind = value if name == "x-amz-checksum-type" else ("FULL_OBJECT" if algorithm.startswith("crc") else "COMPOSITE")
    s3.abort_multipart_upload(Bucket=scene.bucket, Key="mpu", UploadId=scene.upload)
    scene.upload = s3.create_multipart_upload(Bucket=scene.bucket, Key="mpu", ChecksumAlgorithm=algorithm.upper(),
                                              ChecksumType=kind)["UploadId"]
    scene.part_etag = s3.upload_part(Bucket=scene.bucket, Key="mpu", UploadId=scene.upload, PartNumber=1, Body=PART_ONE,
                                     ChecksumAlgorithm=algorithm.upper())["ETag"]
    part = checksums(PART_ONE)[algorithm]
    if kind == "FULL_OBJECT":
        return part
    digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}.get(algorithm)
    combined = digest(base64.b64decode(part)).digest() if digest else \
        (zlib.crc32 if algorithm == "crc32" else crc32c)(base64.b64decode(part)).to_bytes(4, "big")
    return base64.b64encode(combined).decode() + "-1"


def row_request(row, operation, value, scene, s3):
    """The operation's request carrying the row's header or parameter with `value`."""
    customer_key = row["kind"] == "header" and row["support"] != "refused" and row["name"].startswith((SSE_C, SSE_C_SOURCE))
    if customer_key:
        # The three SSE-C headers go together, on objects and uploads under that key.
        under_customer_key(operation, scene, s3, source=row["name"].startswith(SSE_C_SOURCE))
    whole = None
    if operation == "CompleteMultipartUpload" and row["kind"] == "header" and row["support"] != "refused" and \
            (row["name"] == "x-amz-checksum-type" or row["name"].removeprefix("x-amz-checksum-") in checksums(b"")):
        whole = with_checksum_upload(row["name"], value, scene, s3)
    request = base_request(operation, scene)
    if whole is not None:
        request.headers[row["name"]] = value if row["name"] == "x-amz-checksum-type" else whole
        if row["name"] == "x-amz-checksum-type":
            request.headers["x-amz-checksum-crc32"] = whole
        return request
    if operation == "GetBucketTagging" and row["support"] != "refused":
        s3.put_bucket_tagging(Bucket=scene.bucket, Tagging={"TagSet": [{"Key": "team", "Value": "storage"}]})
    if operation in ("GetBucketPolicy", "GetBucketPolicyStatus") and row["support"] != "refused":
        s3.put_bucket_policy(Bucket=scene.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [NEVER_DENIED(scene.bucket)]}))
    if operation == "GetBucketLifecycleConfiguration" and row["support"] != "refused":
        s3.put_bucket_lifecycle_configuration(Bucket=scene.bucket, LifecycleConfiguration={"Rules": [
            {"ID": "later", "Status": "Enabled", "Filter": {"Prefix": "never/"}, "Expiration": {"Days": 3650}}]})
    if operation == "GetBucketCors" and row["support"] != "refused":
        s3.put_bucket_cors(Bucket=scene.bucket, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    if customer_key:
        request.headers.update(customer_key_headers(SSE_C_SOURCE if row["name"].startswith(SSE_C_SOURCE) else SSE_C))
    if row["kind"] == "parameter":
        if value is not None:
            value = value.format(version=scene.versions.get(request.key, "null"))
        if row["name"] not in [n for n, _ in request.query] or value is not None:
            request.query = [(n, v) for n, v in request.query if n != row["name"]] + [(row["name"], value)]
        return request
    name = header_name(row)
    if value == SIGNER:
        return request
    if value == CHUNKED or (name == "x-amz-trailer" and row["support"] != "refused"):
        trailer = "x-amz-checksum-crc32" if value == CHUNKED else value
        request.payload, request.body, request.trailer = request.body, aws_chunked(request.body, trailer), True
        request.headers.update({"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(request.payload)),
                                "x-amz-trailer": trailer})
        return request
    if row["support"] != "refused":
        if name == SSE_KMS[1] or (name == SSE_KMS[0] and value == "aws:kms"):
            # aws:kms and its key id go together, naming a key that exists.
            request.headers.update({SSE_KMS[0]: "aws:kms", SSE_KMS[1]: KMS_KEY})
        if name in ("x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm") and operation in XML_BODY_WRITES + ("PutObject", "UploadPart"):
            # The algorithm names the checksum header the body carries.
            request.headers[f"x-amz-checksum-{value.lower()}"] = checksums(request.body)[value.lower()]
        if name == "x-amz-checksum-type":
            request.headers["x-amz-checksum-algorithm"] = "CRC32"
        if name in LOCK_HEADERS[:2]:
            # Mode and date go together; a PutObject with a lock carries its MD5.
            request.headers.update({LOCK_HEADERS[0]: "GOVERNANCE", LOCK_HEADERS[1]: "2100-01-01T00:00:00.000Z"})
        if name in LOCK_HEADERS and operation == "PutObject":
            request.headers["content-md5"] = checksums(request.body)["md5"]
        if name == "if-none-match" and value == "*" and request.key == "dst":
            request.key = "fresh"  # the write happens only if the key does not exist
        if name == "if-match" and request.key == "mpu":
            # The completed upload replaces an object only if it has this ETag.
            scene.etags["mpu"] = s3.put_object(Bucket=scene.bucket, Key="mpu", Body=EXISTING)["ETag"]
    etags = {"etag": scene.etags.get(request.key, NO_MATCH), "source_etag": scene.etags["src"], "bucket": scene.bucket}
    request.headers[name] = value.format(**checksums(request.body), **etags)
    return request


# MARK: What a successful operation leaves behind

def assert_carried_out(operation, request, response, s3, scene):
    """The operation really happened (a no-op header must not stop it)."""
    b = scene.bucket
    key = CUSTOMER if SSE_C + "key" in request.headers else {}
    if operation == "PutObject":
        assert s3.get_object(Bucket=b, Key=request.key, **key)["Body"].read() == NEW
    elif operation == "CopyObject":
        assert s3.get_object(Bucket=b, Key=request.key, **key)["Body"].read() == SOURCE
    elif operation in ("DeleteObject", "DeleteObjects"):
        assert "Contents" not in s3.list_objects_v2(Bucket=b, Prefix="dst")
    elif operation == "CreateBucket":
        s3.head_bucket(Bucket=scene.absent)
    elif operation == "DeleteBucket":
        assert scene.empty not in {x["Name"] for x in s3.list_buckets()["Buckets"]}
    elif operation == "CreateMultipartUpload":
        assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=b)["Uploads"]] == ["dst", "mpu"]
    elif operation in ("UploadPart", "UploadPartCopy"):
        parts = s3.list_parts(Bucket=b, Key="mpu", UploadId=scene.upload)["Parts"]
        assert [p["PartNumber"] for p in parts] == [1, 2]
    elif operation == "CompleteMultipartUpload":
        assert s3.get_object(Bucket=b, Key="mpu", **key)["Body"].read() == PART_ONE
        assert "Uploads" not in s3.list_multipart_uploads(Bucket=b)
    elif operation == "AbortMultipartUpload":
        assert "Uploads" not in s3.list_multipart_uploads(Bucket=b)
    elif operation == "GetObject" and "range" not in request.headers:
        assert response.body == EXISTING


def assert_honored(row, operation, request, response, s3, scene):
    """The effects an honored header promises, where one request shows them."""
    if "x-amz-trailer" in request.headers:
        # x-amz-trailer and x-amz-decoded-content-length: the aws-chunked body was decoded and its trailer checked.
        assert response.headers.get(request.headers["x-amz-trailer"]) == checksums(request.payload)["crc32"], response.headers
        return
    name = header_name(row) if row["kind"] == "header" else None
    algorithm = name and name.removeprefix("x-amz-checksum-")
    if algorithm in checksums(b"") and operation == "CompleteMultipartUpload":
        element = f"Checksum{algorithm.upper()}"
        assert f"<{element}>{request.headers[name]}</{element}>".encode() in response.body, response.body
    elif algorithm in checksums(b"") and operation not in XML_BODY_WRITES:
        assert response.headers.get(name) == request.headers[name], response.headers
    elif name in ("x-amz-checksum-algorithm", "x-amz-sdk-checksum-algorithm") and operation not in XML_BODY_WRITES:
        if operation == "CreateMultipartUpload":
            assert response.headers.get(name) == request.headers[name], response.headers
        else:
            checksum = f"x-amz-checksum-{request.headers[name].lower()}"
            assert response.headers.get(checksum) == request.headers[checksum], response.headers
    elif name == "x-amz-checksum-mode":
        assert any(h.startswith("x-amz-checksum-") for h in response.headers), response.headers
    elif name == "range":
        assert response.status == 206, response
        assert response.body == (EXISTING[0:4] if request.method == "GET" else b"")
    elif name == "x-amz-meta-color" and operation == "PutObject":
        assert s3.head_object(Bucket=scene.bucket, Key=request.key)["Metadata"] == {"color": "blue"}


# MARK: Tests

@pytest.mark.parametrize("row", ROW_PARAMS)
def test_row(server, s3, scenes, row):
    """The row's documented behaviour, for every operation and value it names (or one operation
    of "any other")."""
    for operation, value in plans(row):
        if row["support"] == "refused":
            request = row_request(row, operation, value, scenes.shared(), s3)
            response = request.send(server)
            changes = scenes.changes()
            assert response.status == row["status"], (operation, str(request), response)
            if request.method != "HEAD":
                assert response.code == row["code"], (operation, str(request), response)
            assert changes is None, f"the refused {operation} changed something: {request}\n{changes}"
            continue
        locked = operation in LOCKED_OPERATIONS or (row["kind"] == "header" and row["name"] in LOCK_HEADERS)
        scene = scenes.fresh(locked)
        request = row_request(row, operation, value, scene, s3)
        response = request.send(server)
        assert 200 <= response.status < 300, (operation, str(request), response)
        if request.headers.get("x-amz-server-side-encryption", "").upper() == "AES256":
            assert response.headers.get("x-amz-server-side-encryption") == "AES256", (operation, str(request), response.headers)
        if request.headers.get("x-amz-server-side-encryption") == "aws:kms":
            assert response.headers.get("x-amz-server-side-encryption") == "aws:kms", (operation, str(request), response.headers)
            assert response.headers.get(SSE_KMS[1], "").endswith(f":key/{KMS_KEY}"), (operation, str(request), response.headers)
        assert_carried_out(operation, request, response, s3, scene)
        if row["support"] == "honored":
            assert_honored(row, operation, request, response, s3, scene)


def test_every_object_and_bucket_write_is_exercised():
    """The requests the table drives include every write the gateway implements."""
    operations = {operation for p in ROW_PARAMS for operation, _ in plans(p.values[0])}
    assert operations >= {"PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CreateBucket", "DeleteBucket",
                          "CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload"}, sorted(operations)


def test_unknown_amz_header_is_refused(server, scenes):
    """An x-amz-* header outside the table is NotImplemented, on writes and reads alike, and stores nothing."""
    scene = scenes.shared()
    put = signed(server, "PUT", f"/{scene.bucket}/dst", body=NEW, headers={"x-amz-foo": "1"})
    got = signed(server, "GET", f"/{scene.bucket}/dst", headers={"x-amz-foo": "1"})
    changes = scenes.changes()
    assert (put.status, put.code) == (501, "NotImplemented"), put
    assert (got.status, got.code) == (501, "NotImplemented"), got
    assert changes is None, changes


def test_unsigned_amz_header_is_refused(server, scenes):
    """An x-amz-meta header added to a signed request after signing is AccessDenied; nothing is stored."""
    scene = scenes.shared()
    response = signed(server, "PUT", f"/{scene.bucket}/dst", body=NEW, unsigned={"x-amz-meta-color": "blue"})
    changes = scenes.changes()
    assert (response.status, response.code) == (403, "AccessDenied"), response
    assert b"x-amz-meta-color" in response.body
    assert changes is None, changes


def test_sse_s3_is_echoed_by_every_object_write_and_read(s3, bucket):
    """x-amz-server-side-encryption: AES256 is accepted by each object write and every object
    write and read answers with it, asked or not."""
    sse = lambda response: response["ServerSideEncryption"]
    assert sse(s3.put_object(Bucket=bucket, Key="a", Body=SOURCE, ServerSideEncryption="AES256")) == "AES256"
    assert sse(s3.put_object(Bucket=bucket, Key="b", Body=SOURCE)) == "AES256"
    assert sse(s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "a"}, ServerSideEncryption="AES256")) == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="m", ServerSideEncryption="AES256")
    assert sse(upload) == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * (5 << 20))
    assert sse(part) == "AES256"
    copied = s3.upload_part_copy(Bucket=bucket, Key="m", UploadId=upload["UploadId"], PartNumber=2,
                                 CopySource={"Bucket": bucket, "Key": "a"})
    assert sse(copied) == "AES256"
    parts = [{"PartNumber": 1, "ETag": part["ETag"]}, {"PartNumber": 2, "ETag": copied["CopyPartResult"]["ETag"]}]
    assert sse(s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=upload["UploadId"],
                                            MultipartUpload={"Parts": parts})) == "AES256"
    for key in ("a", "b", "c", "m"):
        assert sse(s3.get_object(Bucket=bucket, Key=key)) == "AES256"
        assert sse(s3.head_object(Bucket=bucket, Key=key)) == "AES256"
