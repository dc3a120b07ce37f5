"""/health/live and /health/ready for load balancers: no credentials, a JSON body that says what fails."""
import json
import os
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import Server


def get(server, path, method="GET"):
    request = urllib.request.Request(server.endpoint + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_live_and_ready_without_credentials(server, s3):
    status, body = get(server, "/health/live")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body = get(server, "/health/ready")
    ready = json.loads(body)
    assert status == 200 and ready["status"] == "ok" and ready["catalog"] == "ok", ready
    assert ready["reads"] == "ok" and ready["writes"] == "ok" and ready["providers"] == "all up", ready
    assert get(server, "/health/ready", method="HEAD")[0] == 200
    # A signed request to the same path is S3's: bucket "health", key "live".
    with pytest.raises(ClientError) as error:
        s3.get_object(Bucket="health", Key="live")
    assert error.value.response["Error"]["Code"] == "NoSuchBucket"
    # Anything else without credentials is still refused.
    assert get(server, "/health/other")[0] == 403


def test_ready_says_writes_fail_when_the_policy_cannot_be_met():
    server = Server()
    try:
        server.process.terminate()
        server.process.wait(timeout=30)
        path = os.path.join(server.data, "nuage.toml")
        text = open(path).read().replace('deny = ["us-icts"]', 'deny = ["us-icts", "CH", "JP"]')
        open(path, "w").write(text)
        server.start()
        status, body = get(server, "/health/ready")
        ready = json.loads(body)
        assert status == 503 and ready["status"] == "failing" and ready["reads"] == "ok", ready
        assert ready["writes"].startswith("failing: distinct-providers"), ready
        assert get(server, "/health/live")[0] == 200
    finally:
        server.stop()
