"""rclone as an S3 client against a real `nuage serve`."""
import os
import subprocess


def rclone(server, *args):
    """Runs rclone with a remote `nuage:` configured from the environment; returns stdout bytes."""
    env = dict(os.environ, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_NUAGE_TYPE="s3", RCLONE_CONFIG_NUAGE_PROVIDER="Other",
               RCLONE_CONFIG_NUAGE_ENDPOINT=server.endpoint, RCLONE_CONFIG_NUAGE_ACCESS_KEY_ID=server.access_key,
               RCLONE_CONFIG_NUAGE_SECRET_ACCESS_KEY=server.secret_key, RCLONE_CONFIG_NUAGE_REGION="us-east-1",
               RCLONE_CONFIG_NUAGE_FORCE_PATH_STYLE="true")
    result = subprocess.run(["rclone", *args], capture_output=True, env=env, timeout=300)
    assert result.returncode == 0, f"rclone {' '.join(args)} failed: {result.stderr.decode(errors='replace')}"
    return result.stdout


def test_copy_sync_check_lsf_cat(server, tmp_path):
    src = tmp_path / "src"
    (src / "nested").mkdir(parents=True)
    files = {"one.txt": b"first file\n", "nested/two.bin": os.urandom(2_500_000), "nested/three": b""}
    for name, data in files.items():
        (src / name).write_bytes(data)
    rclone(server, "mkdir", "nuage:rclone-bucket")
    rclone(server, "copy", str(src), "nuage:rclone-bucket/copied")
    listing = rclone(server, "lsf", "-R", "nuage:rclone-bucket/copied").decode().split()
    assert sorted(listing) == sorted(["one.txt", "nested/", "nested/two.bin", "nested/three"])
    # check compares the sizes and MD5 hashes (from the ETags) of every file.
    rclone(server, "check", str(src), "nuage:rclone-bucket/copied")
    (src / "one.txt").write_bytes(b"changed contents\n")
    (src / "nested" / "three").unlink()
    rclone(server, "sync", str(src), "nuage:rclone-bucket/copied")
    rclone(server, "check", str(src), "nuage:rclone-bucket/copied")
    assert "nested/three" not in rclone(server, "lsf", "-R", "nuage:rclone-bucket/copied").decode()
    part = rclone(server, "cat", "--offset", "1000", "--count", "64", "nuage:rclone-bucket/copied/nested/two.bin")
    assert part == files["nested/two.bin"][1000:1064]
    rclone(server, "purge", "nuage:rclone-bucket")
