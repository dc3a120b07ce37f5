"""Three gateways on one PostgreSQL catalog, driven by boto3: what one answered, the others see
at once (GET, HEAD, LIST, DELETE), racing If-None-Match PUTs of one key have exactly one winner,
racing overwrites leave one whole version, a multipart upload spans the gateways, and background
jobs run under leases, taken over when their holder is SIGKILLed."""
import concurrent.futures
import os
import signal
import subprocess
import time

import pytest

from conftest import Server, postgres_database_url, postgres_server
from test_sse_c import refused


@pytest.fixture(scope="module")
def trio():
    postgres_server()  # fails clearly without the test server
    a = Server(catalog="postgres")
    b, c = Server(joining=a), Server(joining=a)
    yield a, b, c
    for server in (c, b, a):
        server.stop()


def test_what_one_gateway_answered_the_others_see_at_once(trio):
    a, b, c = (server.client() for server in trio)
    a.create_bucket(Bucket="shared")
    for i in range(20):
        body = os.urandom(1000 + i)
        a.put_object(Bucket="shared", Key=f"k{i}", Body=body)
        # No wait: the PUT through A was answered, so B and C read it.
        assert b.get_object(Bucket="shared", Key=f"k{i}")["Body"].read() == body
        assert c.head_object(Bucket="shared", Key=f"k{i}")["ContentLength"] == len(body)
        assert f"k{i}" in [o["Key"] for o in c.list_objects_v2(Bucket="shared")["Contents"]]
    b.delete_object(Bucket="shared", Key="k3")
    assert refused(lambda: a.get_object(Bucket="shared", Key="k3")) == (404, "NoSuchKey")
    assert refused(lambda: c.head_object(Bucket="shared", Key="k3"))[0] == 404


def test_racing_writes_through_three_gateways(trio):
    clients = [server.client() for server in trio]
    clients[0].create_bucket(Bucket="race")
    for round in range(5):
        def create(index):
            try:
                clients[index % 3].put_object(Bucket="race", Key=f"once{round}", Body=b"from %d" % index, IfNoneMatch="*")
                return "won"
            except Exception as error:  # the losers' answers
                return error.response["Error"]["Code"] if hasattr(error, "response") else repr(error)
        with concurrent.futures.ThreadPoolExecutor(9) as pool:
            outcomes = list(pool.map(create, range(9)))
        assert outcomes.count("won") == 1, outcomes
        assert all(o in ("won", "PreconditionFailed", "ConditionalRequestConflict") for o in outcomes), outcomes
    bodies = {i: os.urandom(200_000) for i in range(9)}
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        list(pool.map(lambda i: clients[i % 3].put_object(Bucket="race", Key="over", Body=bodies[i]), range(9)))
    got = [client.get_object(Bucket="race", Key="over")["Body"].read() for client in clients]
    assert got[0] in bodies.values() and got[0] == got[1] == got[2], "one whole version, the same through every gateway"


def test_a_multipart_upload_spans_the_gateways(trio):
    a, b, c = (server.client() for server in trio)
    a.create_bucket(Bucket="multi")
    upload = a.create_multipart_upload(Bucket="multi", Key="big")["UploadId"]
    one, two = os.urandom(5 << 20), os.urandom(1234)
    e1 = b.upload_part(Bucket="multi", Key="big", UploadId=upload, PartNumber=1, Body=one)["ETag"]
    e2 = c.upload_part(Bucket="multi", Key="big", UploadId=upload, PartNumber=2, Body=two)["ETag"]
    assert [p["PartNumber"] for p in a.list_parts(Bucket="multi", Key="big", UploadId=upload)["Parts"]] == [1, 2]
    a.complete_multipart_upload(Bucket="multi", Key="big", UploadId=upload,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert c.get_object(Bucket="multi", Key="big")["Body"].read() == one + two


def holders(url):
    rows = subprocess.run(["psql", url.split("?")[0], "-qAtc", "SELECT job, holder FROM lease ORDER BY job"],
                          capture_output=True, text=True, check=True).stdout
    return dict(line.split("|", 1) for line in rows.splitlines() if line)


def test_background_jobs_run_once_and_move_when_their_gateway_dies(trio):
    a, b, c = trio
    url = a.catalog_url
    deadline = time.time() + 30
    while not {"repair", "garbage", "journal"} <= holders(url).keys() and time.time() < deadline:
        time.sleep(0.5)
    leases = holders(url)
    assert {"repair", "garbage", "journal"} <= leases.keys(), leases
    # Each job has one holder, one of the three gateways; per-gateway jobs take no lease.
    assert "probes" not in leases and "audit-checkpoints" not in leases, leases
    holder = leases["repair"]
    victim = next(s for s in trio if holder.endswith(":" + s.data))
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    # Within the lease time (30 s, the shortest) another gateway holds the job.
    deadline = time.time() + 90
    while time.time() < deadline:
        now = holders(url).get("repair")
        if now and now != holder:
            break
        time.sleep(1)
    assert now != holder and any(now.endswith(":" + s.data) for s in trio if s is not victim), (holder, now)
    victim.start()  # the fixture stops it again


def test_an_embedded_catalog_moves_to_postgres():
    """`nuage catalog migrate`: every bucket, version and key of a SQLite catalog, readable
    through the gateway on PostgreSQL; refused while an upload is open or into a used database."""
    from conftest import psql
    server = Server(catalog="sqlite")
    database = "migrated_" + os.path.basename(server.dir).replace("-", "_").lower()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="plain")
        s3.create_bucket(Bucket="history")
        s3.put_bucket_versioning(Bucket="history", VersioningConfiguration={"Status": "Enabled"})
        bodies = {}
        for i in range(30):
            bodies[("plain", f"k{i}")] = os.urandom(i * 3000)
            s3.put_object(Bucket="plain", Key=f"k{i}", Body=bodies[("plain", f"k{i}")], Tagging="n=%d" % i)
        versions = [s3.put_object(Bucket="history", Key="doc", Body=b"v%d" % i)["VersionId"] for i in range(3)]
        s3.delete_object(Bucket="history", Key="doc")
        upload = s3.create_multipart_upload(Bucket="plain", Key="open")["UploadId"]
        server.process.terminate()
        server.process.wait(timeout=30)
        psql(postgres_server(), f"CREATE DATABASE {database}")
        url = postgres_database_url(database)
        refused_open = subprocess.run([server.binary, "catalog", "migrate", "--to", url, "--data", server.data], capture_output=True, text=True)
        assert refused_open.returncode != 0 and "uploads are in progress" in refused_open.stderr, refused_open.stderr
        server.start()
        server.client().abort_multipart_upload(Bucket="plain", Key="open", UploadId=upload)
        server.process.terminate()
        server.process.wait(timeout=30)
        out = server.run("catalog", "migrate", "--to", url)
        assert "2 bucket(s), 30 object(s)" in out, out
        assert 'kind = "postgres"' in open(os.path.join(server.data, "nuage.toml")).read()
        again = subprocess.run([server.binary, "catalog", "migrate", "--to", url, "--data", server.data], capture_output=True, text=True)
        assert again.returncode != 0, "a second migration is refused"
        server.start()
        s3 = server.client()
        for (bucket, key), body in bodies.items():
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert s3.get_object_tagging(Bucket="plain", Key="k7")["TagSet"] == [{"Key": "n", "Value": "7"}]
        assert [s3.get_object(Bucket="history", Key="doc", VersionId=v)["Body"].read() for v in versions] == [b"v0", b"v1", b"v2"]
        assert refused(lambda: s3.get_object(Bucket="history", Key="doc")) == (404, "NoSuchKey"), "the delete marker came along"
        s3.put_object(Bucket="plain", Key="after", Body=b"written on PostgreSQL")
        assert "after" in [o["Key"] for o in s3.list_objects_v2(Bucket="plain")["Contents"]]
    finally:
        server.stop()
        psql(postgres_server(), f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
