"""ACL answers as AWS's default since 2023 (bucket owner enforced), with boto3 and s3cmd: the owner
has FULL_CONTROL; private ACLs are accepted, any grant to another principal is refused."""
import os
import subprocess

from test_sse_c import refused

OWNER_ONLY = {"Owner": {"ID": "nuage"}, "Grants": [{"Grantee": {"ID": "nuage", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]}


def test_acls_say_what_access_keys_decide(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="o")):
        assert acl["Owner"]["ID"] == "nuage"
        assert [(g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [("nuage", "FULL_CONTROL")]
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object_acl(Bucket=bucket, Key="o", ACL="bucket-owner-full-control")
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=OWNER_ONLY)
    assert refused(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read")) == (400, "AccessControlListNotSupported")
    everyone = {"Owner": {"ID": "nuage"}, "Grants": OWNER_ONLY["Grants"] + [
        {"Grantee": {"URI": "http://acs.amazonaws.com/groups/global/AllUsers", "Type": "Group"}, "Permission": "READ"}]}
    assert refused(lambda: s3.put_object_acl(Bucket=bucket, Key="o", AccessControlPolicy=everyone)) == (400, "AccessControlListNotSupported")
    assert refused(lambda: s3.get_object_acl(Bucket=bucket, Key="missing")) == (404, "NoSuchKey")
    controls = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert controls == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert refused(lambda: s3.put_bucket_ownership_controls(
        Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})) == (501, "NotImplemented")


def test_s3cmd_setacl(server, s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    config = tmp_path / "s3cfg"
    host = server.endpoint.removeprefix("http://")
    config.write_text(f"[default]\naccess_key = {server.access_key}\nsecret_key = {server.secret_key}\nhost_base = {host}\n"
                      f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n")
    run = lambda *args: subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=120)
    private = run("setacl", "--acl-private", f"s3://{bucket}/o")
    assert private.returncode == 0, private.stdout + private.stderr
    public = run("setacl", "--acl-public", f"s3://{bucket}/o")
    assert public.returncode != 0 and "AccessControlListNotSupported" in public.stdout + public.stderr, public.stdout + public.stderr
