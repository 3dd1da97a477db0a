"""PDF export benchmark (issue 15, item 4): the broker's PDF export, from job
submission to the stored object, against reportlab's platypus `Table`
(python-baseline/pdf_baseline.py) building the same rows into memory,
interleaved in one run; then the peak RSS of a fresh worker process for each
row count up to 100,000.

Run by scripts/bench-pdf.sh, which starts the broker (`serve` with Redis) and
tells this file how to start `upload-broker worker` processes. Prints medians,
pages/s and the ratio; exits non-zero when a target is missed (broker >= 10x
reportlab's pages/s; worker peak RSS <= 64 MiB up to 100,000 rows, where an
export past `EXPORT_MAX_PDF_PAGES` is refused with `too_many_pages`).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python-baseline"))
from pdf_baseline import render  # noqa: E402

BROKER = os.environ["BROKER_URL"]
WORKER_BIN = os.environ["BROKER_BIN"]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
ROWS = int(os.environ.get("ROWS", "10000"))
RSS_ROWS = [int(n) for n in os.environ.get("RSS_ROWS", "10000 50000 75000 100000").split()]
TITLE = "Benchmark"
COLUMNS = [f"col{i}" for i in range(8)]
MIB = 1024 * 1024


def row(n):
    """The rows of crates/worker/benches/export_path.rs (10,000 of them: 320 pages)."""
    return [
        str(n),
        f"user{n}@example.com",
        f"Name {n}",
        "=SUM(A1:A2)" if n % 7 == 0 else "plain text",
        f"{n % 10_000}.{n % 100:02}",
        "2026-01-01",
        'a, "quoted" cell' if n % 3 == 0 else "b",
        str(n * 31 % 997),
    ]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{BROKER}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def broker_export(body, refusal=None):
    """Seconds from POST /exports to the job's object stored (or, with
    `refusal`, to the job failing with that code), and the job."""
    started = time.perf_counter()
    job_id = call("POST", "/exports", body)["jobId"]
    while True:
        job = call("GET", f"/exports/{job_id}")
        if job["status"] in ("done", "failed", "cancelled"):
            seconds = time.perf_counter() - started
            refused = job["status"] == "failed" and job["error"]["code"] == refusal
            assert job["status"] == "done" or refused, job
            return seconds, job
        time.sleep(0.005)


def pages_of(job):
    """The stored PDF's page count, read by qpdf from the object itself."""
    with urllib.request.urlopen(job["url"]) as reply:
        pdf = reply.read()
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        counted = subprocess.run(["qpdf", "--show-npages", file.name], capture_output=True, check=True)
    return int(counted.stdout), len(pdf)


def start_worker():
    env = {"PATH": os.environ["PATH"], **json.loads(os.environ["WORKER_ENV"])}
    worker = subprocess.Popen([WORKER_BIN, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return worker


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def stop(worker):
    worker.terminate()
    worker.wait(timeout=60)


def body_of(rows):
    return {"format": "pdf", "filename": "bench.pdf", "title": TITLE, "columns": COLUMNS, "rows": rows}


def main():
    rows = [row(n) for n in range(ROWS)]
    body = body_of(rows)
    worker = start_worker()
    broker_export(body)  # warm-up, not counted
    render(TITLE, COLUMNS, rows[:500])
    broker_times, reportlab_times = [], []
    for round_no in range(ROUNDS):
        runs = [("broker", lambda: broker_export(body)), ("reportlab", lambda: timed(lambda: render(TITLE, COLUMNS, rows)))]
        if round_no % 2:
            runs.reverse()
        for name, run in runs:
            seconds, result = run()
            if name == "broker":
                broker_times.append(seconds)
                job = result
            else:
                reportlab_times.append(seconds)
                reportlab_pages = result[1]
            print(f"round {round_no + 1}: {name} {seconds * 1000:.0f} ms", flush=True)
    stop(worker)
    broker_pages, broker_bytes = pages_of(job)
    b, r = statistics.median(broker_times), statistics.median(reportlab_times)
    broker_rate, reportlab_rate = broker_pages / b, reportlab_pages / r
    ratio = broker_rate / reportlab_rate
    print(f"pdf export, {ROWS} rows x {len(COLUMNS)} columns, median of {ROUNDS} interleaved rounds")
    print(f"  broker (POST /exports to stored object): {b * 1000:.0f} ms, {broker_pages} pages ({broker_bytes} B) = {broker_rate:.0f} pages/s")
    print(f"  reportlab platypus Table (into memory):  {r * 1000:.0f} ms, {reportlab_pages} pages = {reportlab_rate:.0f} pages/s")
    print(f"  broker / reportlab pages/s = {ratio:.1f}x (target >= 10x); time for the same rows: reportlab / broker = {r / b:.1f}x")
    failed = ratio < 10

    print("worker peak RSS (VmHWM), a fresh `upload-broker worker` per row count:")
    for count in RSS_ROWS:
        worker = start_worker()
        idle = peak_rss(worker.pid)
        seconds, job = broker_export(body_of([row(n) for n in range(count)]), refusal="too_many_pages")
        peak = peak_rss(worker.pid)
        stop(worker)
        if job["status"] == "done":
            pages, size = pages_of(job)
            outcome = f"{pages} pages, {size / MIB:.1f} MiB PDF in {seconds:.2f} s"
        else:
            outcome = f"refused at the page cap in {seconds:.2f} s ({job['error']['message']})"
        print(f"  {count:>7} rows: {outcome}; peak RSS {peak / MIB:.1f} MiB (idle {idle / MIB:.1f} MiB)")
        failed |= peak > 64 * MIB
    print("targets: broker >= 10x reportlab pages/s, worker peak RSS <= 64 MiB:", "missed" if failed else "met")
    return 1 if failed else 0


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


if __name__ == "__main__":
    sys.exit(main())
