"""Multipart benchmark (issue 10): a 1 GiB file through the broker's multipart
routes against a plain `curl -T` presigned PUT of the same bytes to the same
store, interleaved in one run, plus the broker's peak RSS while it completes.

Run by scripts/bench-multipart.sh, which starts the broker (release build) on
one store; this file only drives it. Environment:
  BROKER_URL, BROKER_PID            the broker (AUTH_MODE=none, no rate limit)
  STORE_URL, STORE_BUCKET, STORE_REGION, STORE_ACCESS_KEY, STORE_SECRET_KEY
                                    the same store, for the baseline's presigned PUT
  BENCH_FILE                        the file to send (a CSV: a valid `document`)
  STORE_NAME                        a label for the output
  ROUNDS (default 2), CONCURRENCY (default 4: parts in flight, like the JS client)

The multipart client is what a browser does with the broker's answers: create,
sign the parts (100 per call), PUT them CONCURRENCY at a time, complete. Each
part is sent by curl too (`curl -T part-N`, from the file split beforehand into
PART_SIZE pieces, untimed, as a browser slices a File for free), so both sides
use the same HTTP client: Python's http.client alone sends the same bytes at
about 0.75x curl's speed here, which would otherwise be counted against multipart.
Timed twice: the transfer (create to the last part stored) and end to end
(including POST .../complete, which assembles the object in the store, streams
it through the verifier and promotes it).

The broker's peak RSS during completion is VmHWM from /proc after resetting it
(`echo 5 > /proc/PID/clear_refs`) just before the complete call. With the
embedded store the store runs in the broker's process, so its share is counted.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

import boto3
from botocore.config import Config

BROKER = os.environ["BROKER_URL"]
BROKER_PID = int(os.environ["BROKER_PID"])
FILE = os.environ["BENCH_FILE"]
STORE_NAME = os.environ.get("STORE_NAME", "store")
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CONCURRENCY = int(os.environ.get("CONCURRENCY", "4"))
SIZE = os.path.getsize(FILE)
MiB = 1024 * 1024
PART_SIZE = int(os.environ.get("PART_SIZE", str(16 * MiB)))  # the broker's MULTIPART_PART_SIZE
PARTS_DIR = os.environ["PARTS_DIR"]


def split_file():
    """FILE in PART_SIZE pieces, PARTS_DIR/part-N (untimed)."""
    with open(FILE, "rb") as source:
        number = 1
        while chunk := source.read(PART_SIZE):
            with open(os.path.join(PARTS_DIR, f"part-{number}"), "wb") as out:
                out.write(chunk)
            number += 1


def curl_put(url, path, headers):
    """`curl -T path url` with `headers`; returns (status, response headers)."""
    command = ["curl", "-sS", "-o", "/dev/null", "-D", "-", "-T", path]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    answer = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    # The last header block: curl dumps the interim `100 Continue` too.
    lines = answer.strip().replace("\r", "").split("\n\n")[-1].splitlines()
    status = int(lines[0].split()[1])
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, {name.lower(): value.strip() for name, value in fields.items()}


def request(method, url, body=None, headers=None):
    """One HTTP request on a fresh connection; returns (status, headers, body bytes)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def broker(method, path, payload=None):
    body = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if body else {}
    status, _, answer = request(method, BROKER + path, body, headers)
    reply = json.loads(answer or b"null")
    if status >= 300:
        raise RuntimeError(f"{method} {path}: HTTP {status}: {reply}")
    return reply


def proc_status(field):
    with open(f"/proc/{BROKER_PID}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/{BROKER_PID}/status")


def reset_peak_rss():
    with open(f"/proc/{BROKER_PID}/clear_refs", "w") as clear:
        clear.write("5")


def multipart_upload(round_no):
    started = time.perf_counter()
    created = broker("POST", "/uploads/multipart", {
        "profile": "document",
        "filename": f"bench-{round_no}.csv",
        "contentType": "text/csv",
        "size": SIZE,
    })
    upload_id, part_size, part_count = created["uploadId"], created["partSize"], created["partCount"]
    if part_size != PART_SIZE:
        raise RuntimeError(f"the broker's part size is {part_size}; run with PART_SIZE={part_size}")
    path = f"/uploads/multipart/{urllib.parse.quote(upload_id, safe='')}"
    # Part URLs in batches of 100 (the broker's maximum per call), then the bytes.
    signed = {}
    numbers = list(range(1, part_count + 1))
    for start in range(0, part_count, 100):
        reply = broker("POST", f"{path}/parts", {"partNumbers": numbers[start:start + 100]})
        signed.update((part["partNumber"], part) for part in reply["parts"])
    todo = list(numbers)
    etags = {}
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                if not todo or errors:
                    return
                number = todo.pop(0)
            try:
                part = signed[number]
                status, headers = curl_put(part["url"], os.path.join(PARTS_DIR, f"part-{number}"), part.get("headers") or {})
                if status != 200:
                    raise RuntimeError(f"part {number}: HTTP {status}")
                etag = headers["etag"]
                with lock:
                    etags[number] = etag
            except Exception as error:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(error)
                return

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    transferred = time.perf_counter()

    rss_before = proc_status("VmRSS")
    reset_peak_rss()
    done = broker("POST", f"{path}/complete", {
        "parts": [{"partNumber": n, "etag": etags[n]} for n in sorted(etags)],
    })
    finished = time.perf_counter()
    peak = proc_status("VmHWM")
    if done.get("size") != SIZE:
        raise RuntimeError(f"completion answered size {done.get('size')}, expected {SIZE}")
    return {
        "transfer": transferred - started,
        "total": finished - started,
        "complete": finished - transferred,
        "parts": part_count,
        "part_size": part_size,
        "rss_before": rss_before,
        "peak_rss": peak,
        "sha256": done.get("sha256"),
        "key": done.get("objectKey"),
    }


def plain_put(round_no, s3):
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": os.environ["STORE_BUCKET"], "Key": f"bench-baseline/{round_no}.csv"},
        ExpiresIn=3600,
    )
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "--fail", "-o", "/dev/null", "-T", FILE, url],
        check=True,
    )
    return time.perf_counter() - started


def main():
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["STORE_URL"],
        region_name=os.environ["STORE_REGION"],
        aws_access_key_id=os.environ["STORE_ACCESS_KEY"],
        aws_secret_access_key=os.environ["STORE_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    split_file()
    puts, runs = [], []
    for round_no in range(ROUNDS):
        puts.append(plain_put(round_no, s3))
        runs.append(multipart_upload(round_no))
        run = runs[-1]
        # Keep the disk from filling up: 1 GiB per object.
        s3.delete_object(Bucket=os.environ["STORE_BUCKET"], Key=f"bench-baseline/{round_no}.csv")
        s3.delete_object(Bucket=os.environ["STORE_BUCKET"], Key=run["key"])
        print(
            f"  round {round_no + 1}: curl -T {SIZE / puts[-1] / MiB:.0f} MiB/s; multipart transfer "
            f"{SIZE / run['transfer'] / MiB:.0f} MiB/s, with completion {SIZE / run['total'] / MiB:.0f} MiB/s "
            f"(complete {run['complete']:.1f} s, {run['parts']} parts of {run['part_size'] // MiB} MiB); "
            f"broker RSS {run['rss_before'] / MiB:.0f} MiB before complete, peak during complete {run['peak_rss'] / MiB:.0f} MiB",
            flush=True,
        )
    put = statistics.median(puts)
    transfer = statistics.median(r["transfer"] for r in runs)
    total = statistics.median(r["total"] for r in runs)
    peak = max(r["peak_rss"] for r in runs)
    print(f"{STORE_NAME}: {SIZE / MiB:.0f} MiB, {ROUNDS} rounds, medians")
    print(f"  plain curl -T presigned PUT      {put:6.1f} s  {SIZE / put / MiB:5.0f} MiB/s  1.00x")
    print(f"  multipart transfer (create..parts) {transfer:4.1f} s  {SIZE / transfer / MiB:5.0f} MiB/s  {put / transfer:.2f}x")
    print(f"  multipart end to end (+complete) {total:6.1f} s  {SIZE / total / MiB:5.0f} MiB/s  {put / total:.2f}x")
    print(f"  broker peak RSS during completion (max of rounds): {peak / MiB:.0f} MiB (target <= 128 MiB)")
    print(json.dumps({
        "store": STORE_NAME, "bytes": SIZE, "rounds": ROUNDS, "put_s": put, "transfer_s": transfer,
        "total_s": total, "transfer_ratio": put / transfer, "total_ratio": put / total, "peak_rss_bytes": peak,
    }))


if __name__ == "__main__":
    sys.exit(main())
