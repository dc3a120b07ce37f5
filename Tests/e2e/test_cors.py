"""CORS: Get/Put/DeleteBucketCors with boto3 (AWS's limits and errors, kept across a restart),
preflight requests and Access-Control-* headers as AWS sends them, and a real browser: a page
served from another origin uploads a file to a presigned PUT URL with fetch(), reads it back
with a presigned GET, and is stopped by the browser once the bucket's rule is removed."""
import functools
import http.client
import http.server
import json
import subprocess
import threading
import time
import urllib.parse

import pytest
from selenium.webdriver.common.by import By

from conftest import Server, free_port
from test_sse_c import refused

RULE = {"AllowedOrigins": ["https://app.example.com", "http://*.example.org"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["x-amz-meta-*", "content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}


def raw(server, method, path, headers=None):
    """An unsigned request, as a browser sends a preflight."""
    connection = http.client.HTTPConnection(urllib.parse.urlparse(server.endpoint).netloc, timeout=30)
    connection.request(method, path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body.decode()


def test_configuration_limits_errors_and_restart(tmp_path):
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="cors")
        assert refused(lambda: s3.get_bucket_cors(Bucket="cors")) == (404, "NoSuchCORSConfiguration")
        s3.delete_bucket_cors(Bucket="cors")  # nothing to delete is fine, as at AWS
        s3.put_bucket_cors(Bucket="cors", CORSConfiguration={"CORSRules": [dict(RULE, ID="app"), {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]})
        expected = [dict(RULE, ID="app"), {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]
        assert s3.get_bucket_cors(Bucket="cors")["CORSRules"] == expected
        server.process.terminate()
        server.process.wait(timeout=20)
        server.start()
        s3 = server.client()
        assert s3.get_bucket_cors(Bucket="cors")["CORSRules"] == expected, "the rules did not survive a restart"

        def put(rules):
            return refused(lambda: s3.put_bucket_cors(Bucket="cors", CORSConfiguration={"CORSRules": rules}))
        assert put([{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]) == (400, "InvalidRequest")
        assert put([{"AllowedOrigins": ["http://*.*.example.org"], "AllowedMethods": ["GET"]}]) == (400, "InvalidRequest")
        assert put([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*-*-*"]}]) == (400, "InvalidRequest")
        assert put([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"], "ExposeHeaders": ["*"]}]) == (400, "InvalidRequest")
        assert put([{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101) == (400, "InvalidRequest")
        assert put([]) == (400, "MalformedXML")
        # A refused configuration leaves the one in place.
        assert s3.get_bucket_cors(Bucket="cors")["CORSRules"] == expected
        s3.delete_bucket_cors(Bucket="cors")
        assert refused(lambda: s3.get_bucket_cors(Bucket="cors")) == (404, "NoSuchCORSConfiguration")
        # The aws CLI sets and reads them too.
        aws = ["aws", "--endpoint-url", server.endpoint, "s3api"]
        cors = json.dumps({"CORSRules": [{"AllowedOrigins": ["https://cli.example"], "AllowedMethods": ["GET"]}]})
        subprocess.run(aws + ["put-bucket-cors", "--bucket", "cors", "--cors-configuration", cors], env=server.env(), check=True, timeout=60)
        got = subprocess.run(aws + ["get-bucket-cors", "--bucket", "cors"], env=server.env(), capture_output=True, text=True, check=True, timeout=60)
        assert json.loads(got.stdout)["CORSRules"][0]["AllowedOrigins"] == ["https://cli.example"]
    finally:
        server.stop()


def test_preflight_and_response_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"cors")
    origin = {"Origin": "https://app.example.com"}
    # Without an Origin there is nothing to answer; without rules, no origin is allowed.
    status, _, body = raw(server, "OPTIONS", f"/{bucket}/k", {"Access-Control-Request-Method": "PUT"})
    assert status == 400 and "<Code>BadRequest</Code>" in body
    status, _, body = raw(server, "OPTIONS", f"/{bucket}/k", dict(origin, **{"Access-Control-Request-Method": "PUT"}))
    assert status == 403 and "<Code>AccessForbidden</Code>" in body and "CORS is not enabled for this bucket" in body
    assert "<ResourceType>OBJECT</ResourceType>" in body
    status, _, body = raw(server, "OPTIONS", "/no-such-bucket/k", dict(origin, **{"Access-Control-Request-Method": "PUT"}))
    assert status == 403 and "Bucket not found" in body
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [RULE, {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]}]})

    status, headers, _ = raw(server, "OPTIONS", f"/{bucket}/k", dict(origin, **{
        "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "X-Amz-Meta-Color, Content-Type"}))
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "GET, PUT"
    assert headers["access-control-allow-headers"] == "x-amz-meta-color, content-type"
    assert headers["access-control-expose-headers"] == "ETag"
    assert headers["access-control-max-age"] == "600"
    assert headers["vary"] == "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
    # One wildcard in an origin; the rule for every origin answers '*' and no credentials.
    status, headers, _ = raw(server, "OPTIONS", f"/{bucket}", {"Origin": "http://cdn.example.org", "Access-Control-Request-Method": "GET"})
    assert status == 200 and headers["access-control-allow-origin"] == "http://cdn.example.org"
    status, headers, _ = raw(server, "OPTIONS", f"/{bucket}/k", {"Origin": "https://elsewhere.test", "Access-Control-Request-Method": "HEAD"})
    assert status == 200 and headers["access-control-allow-origin"] == "*" and "access-control-allow-credentials" not in headers
    # What no rule allows: another origin, method or header.
    for asked in ({"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"},
                  dict(origin, **{"Access-Control-Request-Method": "DELETE"}),
                  dict(origin, **{"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-amz-acl"}),
                  dict(origin)):
        status, headers, body = raw(server, "OPTIONS", f"/{bucket}/k", asked)
        assert status == 403 and "This CORS request is not allowed" in body, asked
        assert "access-control-allow-origin" not in headers

    # Actual requests from an allowed origin carry the headers, errors included; others do not.
    cors_client = server.client()
    cors_client.meta.events.register("before-sign.s3.*", lambda request, **_: request.headers.__setitem__("Origin", "https://app.example.com"))
    got = cors_client.get_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]
    assert got["access-control-allow-origin"] == "https://app.example.com" and got["access-control-expose-headers"] == "ETag"
    with pytest.raises(Exception) as missing:
        cors_client.get_object(Bucket=bucket, Key="absent")
    assert missing.value.response["ResponseMetadata"]["HTTPHeaders"]["access-control-allow-origin"] == "https://app.example.com"
    status, headers, _ = raw(server, "GET", f"/{bucket}/k", {"Origin": "https://app.example.com"})
    assert status == 403 and headers["access-control-allow-origin"] == "https://app.example.com", "an anonymous refusal still carries them"
    status, headers, _ = raw(server, "GET", f"/{bucket}/k", {"Origin": "https://evil.test"})
    assert status == 403 and "access-control-allow-origin" not in headers


PAGE = """<!doctype html>
<html><body>
<input id="file" type="file"> <input id="put" size="80"> <input id="get" size="80"> <button id="go">Upload</button>
<pre id="result"></pre>
<script>
document.getElementById("go").onclick = async () => {
  const out = document.getElementById("result");
  try {
    const file = document.getElementById("file").files[0];
    const put = await fetch(document.getElementById("put").value, {method: "PUT", body: new Uint8Array(await file.arrayBuffer())});
    const etag = put.headers.get("ETag");
    const get = await fetch(document.getElementById("get").value);
    out.textContent = JSON.stringify({put: put.status, etag: etag, get: get.status, body: await get.text()});
  } catch (error) {
    out.textContent = JSON.stringify({error: String(error)});
  }
};
</script>
</body></html>
"""


@pytest.fixture
def page_origin(tmp_path):
    """The upload page, served from another origin than the gateway (its own port)."""
    (tmp_path / "upload.html").write_text(PAGE)
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


def upload_in_browser(browser, origin, path, put_url, get_url):
    browser.get(f"{origin}/upload.html")
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "put").send_keys(put_url)
    browser.find_element(By.ID, "get").send_keys(get_url)
    browser.find_element(By.ID, "go").click()
    deadline = time.time() + 60
    while not browser.find_element(By.ID, "result").text:
        assert time.time() < deadline, "the page never finished"
        time.sleep(0.2)
    return json.loads(browser.find_element(By.ID, "result").text)


def test_browser_uploads_with_presigned_urls(server, s3, bucket, browser, page_origin, tmp_path):
    # MaxAgeSeconds 0: the browser may not reuse the preflight's answer (Chromium keeps one 5 s
    # by default), so the rule's removal below is seen by the next upload at once.
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [page_origin], "AllowedMethods": ["GET", "PUT"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 0}]})
    presigner = server.client(signature_version="s3v4")
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "from-browser.txt"}, ExpiresIn=600)
    get_url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "from-browser.txt"}, ExpiresIn=600)
    first = tmp_path / "first.txt"
    first.write_text("uploaded by a web page on another origin\n")
    result = upload_in_browser(browser, page_origin, first, put_url, get_url)
    assert result["put"] == 200 and result["get"] == 200, result
    assert result["body"] == first.read_text()
    assert result["etag"] == s3.head_object(Bucket=bucket, Key="from-browser.txt")["ETag"], "ETag is exposed to the page"

    # Without the rule the browser refuses: the preflight fails, the PUT is never sent.
    s3.delete_bucket_cors(Bucket=bucket)
    second = tmp_path / "second.txt"
    second.write_text("must not arrive\n")
    result = upload_in_browser(browser, page_origin, second, put_url, get_url)
    assert "error" in result and "fetch" in result["error"].lower(), result
    assert s3.get_object(Bucket=bucket, Key="from-browser.txt")["Body"].read().decode() == first.read_text()
