"""Browser-based uploads (POST Object) as boto3's generate_presigned_post makes them (signature
version 4, and 2 by default), with the policy's conditions enforced and nothing stored when
one fails; and from a real browser: a page on another origin posts a file with fetch()."""
import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import boto3
import pytest
from botocore.config import Config
from selenium.webdriver.common.by import By
from urllib3 import encode_multipart_formdata

from test_cors import page_origin  # noqa: F401 (a fixture)
from test_sse_c import refused


def post(url, fields, filename, data, content_type="application/octet-stream"):
    body, form_type = encode_multipart_formdata(list(fields.items()) + [("file", (filename, data, content_type))])
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": form_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def code(body):
    return ET.fromstring(body).findtext("Code")


def test_presigned_post_version_4(server, bucket):
    s3 = server.client(signature_version="s3v4")
    presigned = s3.generate_presigned_post(
        bucket, "uploads/${filename}", Fields={"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
        Conditions=[["starts-with", "$key", "uploads/"], {"Content-Type": "text/plain"}, {"x-amz-meta-origin": "form"},
                    ["content-length-range", 1, 1000]], ExpiresIn=600)
    status, headers, _ = post(presigned["url"], presigned["fields"], "notes.txt", b"posted by a form")
    assert status == 204 and headers["ETag"].strip('"')
    head = s3.head_object(Bucket=bucket, Key="uploads/notes.txt")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"origin": "form"} and head["ETag"] == headers["ETag"]
    assert s3.get_object(Bucket=bucket, Key="uploads/notes.txt")["Body"].read() == b"posted by a form"

    # What the policy forbids is refused, and nothing is stored.
    too_big = post(presigned["url"], presigned["fields"], "big.txt", b"x" * 1001)
    assert too_big[0] == 400 and code(too_big[2]) == "EntityTooLarge"
    other_type = dict(presigned["fields"], **{"Content-Type": "text/html"})
    assert post(presigned["url"], other_type, "page.txt", b"<b>")[0] == 403
    extra = dict(presigned["fields"], **{"x-amz-meta-extra": "no"})
    status, _, body = post(presigned["url"], extra, "extra.txt", b"e")
    assert status == 403 and b"Extra input fields: x-amz-meta-extra" in body
    tampered = dict(presigned["fields"], key="elsewhere/${filename}")
    assert post(presigned["url"], tampered, "t.txt", b"t")[0] == 403
    forged = dict(presigned["fields"], policy=presigned["fields"]["policy"][:-4] + "AAA=")
    assert post(presigned["url"], forged, "f.txt", b"f")[0] in (400, 403)
    # The file must be the form's last field: a field after it leaves the upload unstored.
    body, form_type = encode_multipart_formdata(list(presigned["fields"].items()) + [("file", ("after.txt", b"a", "text/plain")),
                                                                                    ("x-ignore-late", "late")])
    request = urllib.request.Request(presigned["url"], data=body, method="POST", headers={"Content-Type": form_type})
    with pytest.raises(urllib.error.HTTPError) as late:
        urllib.request.urlopen(request, timeout=60)
    assert late.value.code == 400 and code(late.value.read()) == "MalformedPOSTRequest"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["uploads/notes.txt"]

    short = s3.generate_presigned_post(bucket, "late", ExpiresIn=1)
    time.sleep(2.5)
    status, _, body = post(short["url"], short["fields"], "late", b"late")
    assert status == 403 and b"Policy expired" in body
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="late"))[0] == 404


def test_presigned_post_version_2_statuses_and_redirects(server, bucket):
    s3 = server.client()
    presigned = s3.generate_presigned_post(bucket, "v2-object", Fields={"success_action_status": "201"},
                                           Conditions=[{"success_action_status": "201"}], ExpiresIn=600)
    assert "AWSAccessKeyId" in presigned["fields"] and "signature" in presigned["fields"]
    status, _, body = post(presigned["url"], presigned["fields"], "v2", b"version 2")
    assert status == 201 and ET.fromstring(body).findtext("Key") == "v2-object"
    assert s3.get_object(Bucket=bucket, Key="v2-object")["Body"].read() == b"version 2"
    redirect = s3.generate_presigned_post(bucket, "redirected", Fields={"success_action_redirect": "http://example.invalid/done"},
                                          Conditions=[{"success_action_redirect": "http://example.invalid/done"}], ExpiresIn=600)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    body, form_type = encode_multipart_formdata(list(redirect["fields"].items()) + [("file", ("r", b"r", "text/plain"))])
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(urllib.request.Request(redirect["url"], data=body, method="POST", headers={"Content-Type": form_type}), timeout=60)
    assert answer.value.code == 303 and answer.value.headers["Location"].startswith("http://example.invalid/done?bucket=")
    # A key that may not write gets nothing in, whatever its policy says.
    reader = json.loads(server.run("keys", "create", "--name", "reader", "--read-only", "--json"))
    read_only = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=reader["access_key"],
                             aws_secret_access_key=reader["secret_key"], region_name="us-east-1",
                             config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    denied = read_only.generate_presigned_post(bucket, "by-reader", ExpiresIn=600)
    assert post(denied["url"], denied["fields"], "x", b"x")[0] == 403


PAGE = """<!doctype html>
<html><body>
<input id="file" type="file"> <textarea id="form"></textarea> <button id="go">Upload</button>
<pre id="result"></pre>
<script>
document.getElementById("go").onclick = async () => {
  const out = document.getElementById("result");
  try {
    const presigned = JSON.parse(document.getElementById("form").value);
    const data = new FormData();
    for (const [name, value] of Object.entries(presigned.fields)) data.append(name, value);
    data.append("file", document.getElementById("file").files[0]);
    const response = await fetch(presigned.url, {method: "POST", body: data});
    out.textContent = JSON.stringify({status: response.status, etag: response.headers.get("ETag")});
  } catch (error) {
    out.textContent = JSON.stringify({error: String(error)});
  }
};
</script>
</body></html>
"""


def test_a_browser_posts_a_file_from_another_origin(server, s3, bucket, browser, page_origin, tmp_path):  # noqa: F811
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [page_origin], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag"]}]})
    (tmp_path / "post.html").write_text(PAGE)
    presigned = server.client(signature_version="s3v4").generate_presigned_post(bucket, "from-browser/${filename}", ExpiresIn=600)
    upload = tmp_path / "photo.bin"
    upload.write_bytes(bytes(range(256)) * 40)
    browser.get(f"{page_origin}/post.html")
    browser.find_element(By.ID, "file").send_keys(str(upload))
    browser.execute_script("document.getElementById('form').value = arguments[0]", json.dumps(presigned))
    browser.find_element(By.ID, "go").click()
    deadline = time.time() + 60
    while not browser.find_element(By.ID, "result").text:
        assert time.time() < deadline, "the page never finished"
        time.sleep(0.2)
    result = json.loads(browser.find_element(By.ID, "result").text)
    assert result["status"] == 204, result
    assert result["etag"] == s3.head_object(Bucket=bucket, Key="from-browser/photo.bin")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="from-browser/photo.bin")["Body"].read() == upload.read_bytes()
