"""The gateway's admin routes: signed like S3, for keys not limited to buckets."""
import json

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import urllib.request

from test_bad_input import send, code


def test_exposure_report_over_http(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 1000)
    status, body = send(server, "GET", "/_nuage/exposure?what-if-deny=CH")
    assert status == 200, body
    report = json.loads(body)
    assert report["objects"] >= 1 and len(report["catalogDigest"]) == 64
    assert {j["code"] for j in report["jurisdictions"]} >= {"US", "CH", "DE"}
    assert report["whatIf"]["affectedProviders"] == ["ch-zurich"]
    # Unsigned: refused; a key limited to a bucket: refused.
    status, body = send(server, "GET", "/_nuage/exposure", sign=False)
    assert status == 403, body
    limited = json.loads(server.run("keys", "create", "--name", "limited", "--bucket", bucket, "--json"))
    request = botocore.awsrequest.AWSRequest(method="GET", url=server.endpoint + "/_nuage/exposure")
    request.headers["x-amz-content-sha256"] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(limited["access_key"], limited["secret_key"]), "s3", "us-east-1").add_auth(request)
    try:
        urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)))
        raise AssertionError("a limited key read the exposure report")
    except urllib.error.HTTPError as error:
        assert error.code == 403 and code(error.read()) == "AccessDenied"
