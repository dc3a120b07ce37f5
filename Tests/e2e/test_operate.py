"""Operating the gateway: SIGTERM lets requests in flight finish and exits 0; the log has one
line per request with what an operator needs, in text or JSON, and never a secret, a
signature, a customer key or object content."""
import base64
import hashlib
import http.client
import io
import json
import os
import signal
import time
import urllib.parse

import pytest

from conftest import Server
from test_lifecycle import signed_headers

MARKER = b"operate plaintext marker 5d2e "


def test_sigterm_lets_a_request_in_flight_finish_and_exits_0():
    server = Server()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="bkt")
        body = os.urandom(3 << 20)
        parsed = urllib.parse.urlsplit(server.endpoint)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        connection.putrequest("PUT", "/bkt/in-flight", skip_accept_encoding=True, skip_host=True)
        connection.putheader("Host", parsed.netloc)
        headers = signed_headers(server, "PUT", server.endpoint + "/bkt/in-flight", hashlib.sha256(body).hexdigest(), body)
        for name, value in headers.items():
            if name.lower() != "host":
                connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        connection.send(body[:1 << 20])
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        # The gateway no longer accepts connections, but the request in flight goes on.
        with pytest.raises(OSError):
            http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5).request("GET", "/")
        connection.send(body[1 << 20:])
        response = connection.getresponse()
        assert response.status == 200, response.read()
        assert server.process.wait(timeout=30) == 0
        log = open(os.path.join(server.dir, "serve.log")).read()
        assert "stopped" in log, log
        server.start()
        assert server.client().get_object(Bucket="bkt", Key="in-flight")["Body"].read() == body
    finally:
        server.stop()


def test_request_lines_and_no_secret_in_the_log():
    server = Server("--log-format", "json", "--log-level", "debug")
    try:
        s3 = server.client()
        signatures = []

        def capture(request, **_):
            authorization = request.headers.get("Authorization", b"")
            authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
            if "Signature=" in authorization:
                signatures.append(authorization.split("Signature=")[1])

        s3.meta.events.register("before-send", capture)
        customer_key = b"operate customer key, 32 bytes!!"
        sse_c = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer_key.decode()}
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="plain", Body=MARKER * 100)
        s3.put_object(Bucket="logged", Key="secret", Body=MARKER * 50, **sse_c)
        assert s3.get_object(Bucket="logged", Key="plain")["Body"].read() == MARKER * 100
        s3.get_object(Bucket="logged", Key="secret", **sse_c)["Body"].read()
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "logged", "Key": "plain"})
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        presigned = (query.get("X-Amz-Signature") or query["Signature"])[0]
        parsed = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        connection.request("GET", parsed.path + "?" + parsed.query)
        assert connection.getresponse().read() == MARKER * 100
        try:
            s3.get_object(Bucket="logged", Key="missing")
        except s3.exceptions.NoSuchKey:
            pass
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0
        lines = [json.loads(line) for line in open(os.path.join(server.dir, "serve.log")) if line.strip()]
        requests = [line for line in lines if line["message"] == "request"]
        by_operation = {}
        for line in requests:
            by_operation.setdefault(line["operation"], []).append(line)
            assert {"time", "level", "request", "key", "operation", "status", "in", "out", "ms"} <= set(line), line
            assert line["key"] == server.access_key and line["level"] == "info"
        assert [l["status"] for l in by_operation["PutObject"]] == ["200", "200"]
        assert by_operation["PutObject"][0]["in"] == str(len(MARKER * 100)) and by_operation["PutObject"][0]["bucket"] == "logged"
        gets = by_operation["GetObject"]
        assert sorted(l["status"] for l in gets) == ["200", "200", "200", "404"], gets
        assert str(len(MARKER * 100)) in [l["out"] for l in gets]
        secrets = [server.secret_key, base64.b64encode(customer_key).decode(), customer_key.decode(),
                   base64.b64encode(hashlib.md5(customer_key).digest()).decode(), MARKER.decode().strip(), presigned] + signatures
        assert len(signatures) >= 6
        text = open(os.path.join(server.dir, "serve.log")).read()
        for secret in secrets:
            assert secret not in text, secret
    finally:
        server.stop()


def scrape(address):
    """Every sample at /metrics, parsed by the Prometheus client library's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families
    connection = http.client.HTTPConnection(*address, timeout=30)
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.read().decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_count_what_a_workload_did():
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Server("--metrics-listen", f"127.0.0.1:{port}")
    try:
        s3 = server.client()
        before = scrape(("127.0.0.1", port))
        s3.create_bucket(Bucket="metered")
        bodies = [os.urandom(1000 + i) for i in range(5)]
        for i, body in enumerate(bodies):
            s3.put_object(Bucket="metered", Key=f"k{i}", Body=body)
        for i in range(3):
            s3.get_object(Bucket="metered", Key=f"k{i}")["Body"].read()
        for i in range(2):
            with pytest.raises(s3.exceptions.NoSuchKey):
                s3.get_object(Bucket="metered", Key=f"missing{i}")
        after = scrape(("127.0.0.1", port))
        delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
        assert delta("nuage_s3_requests_total", operation="PutObject", status="200") == 5
        assert delta("nuage_s3_requests_total", operation="GetObject", status="200") == 3
        assert delta("nuage_s3_requests_total", operation="GetObject", status="404") == 2
        assert delta("nuage_s3_requests_total", operation="CreateBucket", status="200") == 1
        assert delta("nuage_s3_received_bytes_total", operation="PutObject") == sum(len(b) for b in bodies)
        assert delta("nuage_s3_sent_bytes_total", operation="GetObject") >= sum(len(b) for b in bodies[:3])
        # A real histogram: buckets, a count and a sum per operation.
        assert delta("nuage_s3_request_duration_seconds_count", operation="PutObject") == 5
        assert value(after, "nuage_s3_request_duration_seconds_bucket", operation="PutObject", le="+Inf") >= 5
        # Each put wrote a shard blob to every provider (6 by default), through the resilience stack.
        puts = sum(v for (name, labels), v in after.items()
                   if name == "nuage_provider_requests_total" and ("operation", "put") in labels and ("outcome", "ok") in labels)
        assert puts >= 5 * 6, puts
        providers = {dict(labels)["provider"] for (name, labels) in after if name == "nuage_provider_state"}
        assert len(providers) >= 6 and all(value(after, "nuage_provider_state", provider=p, state="healthy") == 1 for p in providers)
        # No label carries a bucket or an object key.
        assert not any("metered" in v or v.startswith("k") and v[1:].isdigit() for (_, labels) in after for _, v in labels)
        # The inventory (refreshed every minute, and at start): stored bytes per provider with its jurisdictions.
        server.process.terminate()
        server.process.wait(timeout=30)
        server.start()
        deadline = time.time() + 30
        while True:
            samples = scrape(("127.0.0.1", port))
            stored = {dict(labels)["provider"]: v for (name, labels), v in samples.items() if name == "nuage_provider_stored_bytes"}
            if value(samples, "nuage_objects") == 5:
                break
            assert time.time() < deadline, samples
            time.sleep(0.5)
        # Six shards per object, spread over the demo's seven eligible providers; its provider in CN
        # is denied (us-icts) and holds none.
        assert len([v for v in stored.values() if v > 0]) >= 6 and stored.get("cn-hangzhou") == 0, stored
        assert sum(v for (name, _), v in samples.items() if name == "nuage_provider_blobs") == 5 * 6
        assert all("location" in dict(labels) and "operator_jurisdiction" in dict(labels)
                   for (name, labels) in samples if name == "nuage_provider_stored_bytes")
        assert value(samples, "nuage_objects_below_full_redundancy") == 0
    finally:
        server.stop()


def test_stat_of_a_multipart_object_is_a_line_per_part(server, s3, bucket):
    from boto3.s3.transfer import TransferConfig
    body = os.urandom(16 << 20)
    s3.upload_fileobj(io.BytesIO(body), bucket, "multi", Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20))
    summary = server.run("stat", f"{bucket}/multi")
    assert "parts    4" in summary and summary.count("6/6 healthy") == 4 and "shard  provider" not in summary, summary
    every = server.run("stat", f"{bucket}/multi", "--shards")
    assert every.count("healthy") == 4 * 6 and "shard  provider" in every, every
    report = json.loads(server.run("stat", f"{bucket}/multi", "--json"))
    assert report["parts"] == 4 and report["size"] == len(body) and len(report["shards"]) == 24 and report["passed"], report
