"""The same client round trip over HTTPS with a self-signed certificate."""
import os
import re
import subprocess
import time

import boto3
import pytest
from botocore.config import Config


def test_https_round_trip(server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                          capture_output=True, timeout=60)
    assert made.returncode == 0, f"openssl could not make a certificate: {made.stderr}"
    log = open(tmp_path / "tls.log", "w+")
    process = subprocess.Popen([server.binary, "serve", "--data", server.data, "--listen", "127.0.0.1:0",
                                "--tls-cert", str(cert), "--tls-key", str(key)], stdout=log, stderr=subprocess.STDOUT)
    try:
        endpoint = None
        for _ in range(300):
            log.seek(0)
            match = re.search(r"serving S3 on (https://127\.0\.0\.1:\d+)", log.read())
            if match:
                endpoint = match.group(1)
                break
            assert process.poll() is None, "the TLS server exited"
            time.sleep(0.1)
        assert endpoint, "the TLS server did not start"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key, region_name="us-east-1", verify=str(cert),
                          config=Config(s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="tls-bucket")
        data = os.urandom(1_000_000)
        s3.put_object(Bucket="tls-bucket", Key="secret", Body=data)
        assert s3.get_object(Bucket="tls-bucket", Key="secret")["Body"].read() == data
        s3.delete_object(Bucket="tls-bucket", Key="secret")
        s3.delete_bucket(Bucket="tls-bucket")
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()
