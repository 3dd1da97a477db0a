"""Peak RSS of the broker while it completes a large document (issue 10).

Run by scripts/bench-complete-rss.sh, which builds the broker. For each store
(the embedded one, and Garage through `testkit-garage`) this starts
`upload-broker serve`, then for each file: signs it (`POST /uploads/sign`, with
its SHA-256), puts it in staging with an S3 multipart upload carrying the
signed record (16 MiB parts, as a finished browser multipart upload leaves
it), resets the broker's peak RSS (`/proc/<pid>/clear_refs`, 5), calls
`POST /uploads/complete` and reads the peak (`VmHWM`).

The files: a 25 MiB CSV of the `file` profile (the largest upload before the
`document` profile: the baseline), and a CSV (checked in one pass as it
streams in) and a stored ZIP (spooled to disk, then checked) of SIZE_MIB.
Target: peak RSS <= 128 MiB during the completion of 1 GiB.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1024 * 1024
BIN = os.environ["BROKER_BIN"]
GARAGE_BIN = os.environ.get("TESTKIT_GARAGE_BIN", "")
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
STORES = os.environ.get("STORES", "embedded,garage").split(",")
PART = 16 * MIB


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csv_file(path, size):
    row = b"".join(b"%d,\"customer %d, Z\xc3\xbcrich\",%d.%02d\n" % (i, i, i * 7, i % 100) for i in range(10_000))
    with open(path, "wb") as f:
        f.write(b"id,name,amount\n")
        written = 0
        while written < size:
            f.write(row)
            written += len(row)


def zip_file(path, size):
    with tempfile.TemporaryDirectory() as tmp:
        entry = os.path.join(tmp, "entry.csv")
        csv_file(entry, size // 4)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for i in range(4):
                z.write(entry, f"part-{i}.csv")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def start_garage():
    proc = subprocess.Popen([GARAGE_BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    return proc, info


def run_store(store, files):
    data = tempfile.mkdtemp(prefix="bench-rss-")
    api = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, AUTH_MODE="none", RATE_LIMIT_RATE="0", RUST_LOG="warn", BIND_ADDR=api, DATA_DIR=data,
               METRICS_BIND_ADDR="", VERIFY_SPOOL_DIR=data)
    garage = None
    if store == "garage":
        garage, info = start_garage()
        env.update(S3_ENABLED="true", S3_ENDPOINT=info["endpoint"], S3_REGION=info["region"], S3_BUCKET=info["bucket"],
                   S3_FORCE_PATH_STYLE="true", S3_ACCESS_KEY=info["accessKey"], S3_SECRET_KEY=info["secretKey"])
        endpoint, region, bucket = info["endpoint"], info["region"], info["bucket"]
    else:
        store_addr = f"127.0.0.1:{free_port()}"
        env.update(DEVSTORE_BIND_ADDR=store_addr, S3_ACCESS_KEY="bench-access-key", S3_SECRET_KEY="bench-secret-key-0123456789")
        endpoint, region, bucket = f"http://{store_addr}", "us-east-1", "uploads"
    broker = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(data + ".log", "w"))
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{api}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=env["S3_ACCESS_KEY"],
                          aws_secret_access_key=env["S3_SECRET_KEY"],
                          config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                        response_checksum_validation="when_required"))
        rows = []
        for kind, path, content_type, digest in files:
            status_code, signed = post(f"http://{api}/uploads/sign",
                                       {"kind": kind, "filename": os.path.basename(path), "content_type": content_type,
                                        "sha256": digest})
            assert status_code == 200, signed
            fields = signed["fields"]
            metadata = {k[len("x-amz-meta-"):]: v for k, v in fields.items() if k.startswith("x-amz-meta-")}
            s3.upload_file(path, bucket, signed["objectKey"], ExtraArgs={"ContentType": content_type, "Metadata": metadata},
                           Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4))
            before = status(broker.pid, "VmRSS")
            with open(f"/proc/{broker.pid}/clear_refs", "w") as f:
                f.write("5")
            started = time.monotonic()
            status_code, done = post(f"http://{api}/uploads/complete", {"objectKey": signed["objectKey"]})
            elapsed = time.monotonic() - started
            peak = status(broker.pid, "VmHWM")
            assert status_code == 200 and done["sha256"] == digest, done
            size = os.path.getsize(path)
            rows.append((store, kind, os.path.basename(path), size, elapsed, before, peak))
            print(f"| {store} | {kind} | {os.path.basename(path)} | {size / MIB:.0f} MiB | {elapsed:.1f} s "
                  f"({size / MIB / elapsed:.0f} MiB/s) | {before / MIB:.0f} MiB | {peak / MIB:.0f} MiB |", flush=True)
            s3.delete_object(Bucket=bucket, Key=done["objectKey"])
        return rows
    finally:
        broker.terminate()
        broker.wait()
        if garage:
            garage.stdin.close()
            garage.wait()
        shutil.rmtree(data, ignore_errors=True)
        os.remove(data + ".log")


def main():
    work = tempfile.mkdtemp(prefix="bench-rss-files-", dir=os.environ.get("BENCH_DIR"))
    try:
        baseline = os.path.join(work, "baseline-25mib.csv")
        csv_file(baseline, 25 * MIB - 200_000)
        big_csv = os.path.join(work, f"ledger-{SIZE_MIB}mib.csv")
        csv_file(big_csv, SIZE_MIB * MIB)
        big_zip = os.path.join(work, f"bundle-{SIZE_MIB}mib.zip")
        zip_file(big_zip, SIZE_MIB * MIB)
        files = [("file", baseline, "text/csv", sha256(baseline)),
                 ("document", big_csv, "text/csv", sha256(big_csv)),
                 ("document", big_zip, "application/zip", sha256(big_zip))]
        print("| store | profile | file | size | completion | RSS before | peak RSS during completion |")
        print("|---|---|---|---|---|---|---|")
        rows = [row for store in STORES for row in run_store(store, files)]
        for store in STORES:
            base = next(r for r in rows if r[0] == store and r[1] == "file")
            for r in rows:
                if r[0] == store and r[1] == "document":
                    print(f"{store}: {r[2]} peak {r[6] / MIB:.0f} MiB = {r[6] / base[6]:.2f}x the 25 MiB file's "
                          f"({base[6] / MIB:.0f} MiB) for {r[3] / base[3]:.0f}x the bytes")
        worst = max(r[6] for r in rows)
        print(f"worst peak: {worst / MIB:.0f} MiB (target <= 128 MiB): {'PASS' if worst <= 128 * MIB else 'FAIL'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
