"""Seven real `rclone serve s3` processes on loopback, in seven countries, as a gateway's providers."""
import os
import shutil
import signal
import socket
import subprocess
import time

COUNTRIES = ["DE", "FR", "NL", "CH", "JP", "CA", "AU"]
ACCESS_KEY, SECRET_KEY = "FLEETKEY", "fleet-secret"


class Rclone:
    """`rclone serve s3` on a free loopback port over its own directory, with one bucket."""

    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "data", "nuage"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [shutil.which("rclone"), "serve", "s3", os.path.join(self.dir, "data"), "--addr", f"127.0.0.1:{self.port}",
             "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", os.path.join(self.dir, "rclone.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and self.process.poll() is None, "rclone serve s3 did not start"
                time.sleep(0.1)

    def blobs(self):
        return sum(len(files) for _, _, files in os.walk(os.path.join(self.dir, "data", "nuage")))

    def stop(self):
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait()


def use_s3_providers(server, monkeypatch):
    """Stops `server`, starts the seven S3 providers and makes them its only providers (with a
    fresh catalog and access key for them); returns country -> Rclone. Stop them with `stop_all`."""
    monkeypatch.setenv("FLEET_KEY", ACCESS_KEY)
    monkeypatch.setenv("FLEET_SECRET", SECRET_KEY)
    server.process.terminate()
    server.process.wait(timeout=30)
    servers, providers = {}, []
    for country in COUNTRIES:
        servers[country] = Rclone(server.dir, "s3-" + country.lower())
        providers.append(f"""
[[provider]]
name = "s3-{country.lower()}"
kind = "s3"
endpoint = "http://127.0.0.1:{servers[country].port}"
bucket = "nuage"
access-key-env = "FLEET_KEY"
secret-key-env = "FLEET_SECRET"
jurisdiction = "{country}"
operator = "Operator {country}"
operator-jurisdiction = "{country}"
""")
    path = os.path.join(server.data, "nuage.toml")
    text = open(path).read()
    open(path, "w").write(text[:text.index("[[provider]]")] + "".join(providers))
    server.lose_catalog()
    keys = __import__("json").loads(server.run("keys", "create", "--name", "e2e", "--json"))
    server.access_key, server.secret_key = keys["access_key"], keys["secret_key"]
    server.run("providers", "check")
    server.start()
    return servers


def stop_all(servers):
    for rclone in servers.values():
        rclone.stop()
