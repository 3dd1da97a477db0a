"""Side-by-side completion benchmark: the broker's POST /uploads/complete
against the Python baseline (python-baseline/app.py) and against a plain GET
plus PUT of the same bytes, all through the same embedded store, interleaved.

Run by scripts/bench-complete.sh, which starts both servers; this file only
drives them. Prints per-case medians and ratios; exits non-zero when a target
is missed (broker >= 3x the Python stack; broker <= 1.5x GET+PUT).
"""

import io
import json
import os
import random
import statistics
import sys
import time
import urllib.request
import uuid

from PIL import Image

BROKER = os.environ["BROKER_URL"]
BASELINE = os.environ["BASELINE_URL"]
ROUNDS = int(os.environ.get("ROUNDS", "15"))

# The same store client as the baseline app (same environment), for staging
# its inputs and for the plain GET+PUT floor.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python-baseline"))
from app import BUCKET, s3  # noqa: E402


def photo(width, height, seed):
    """A photo-like image: smooth gradients plus sensor-like noise, so JPEG
    sizes land where camera files do."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    r = Image.blend(base, noise, 0.5)
    g = Image.blend(base.rotate(90).resize((width, height)), noise, 0.4)
    b = Image.effect_noise((width, height), 20 + rng.randint(0, 10))
    return Image.merge("RGB", (r, g, b))


def gps_exif():
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "BenchCam Model 1"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 29.9)
    gps[3] = "E"
    gps[4] = (2.0, 17.0, 40.2)
    return exif


def fixtures():
    out = {}
    buf = io.BytesIO()
    photo(1600, 1200, 1).save(buf, "JPEG", quality=97, exif=gps_exif())
    out["jpeg-gps-1600x1200"] = ("image/jpeg", "photo.jpg", buf.getvalue())
    buf = io.BytesIO()
    photo(680, 510, 2).save(buf, "PNG")
    out["png"] = ("image/png", "shot.png", buf.getvalue())
    buf = io.BytesIO()
    photo(1600, 1200, 3).save(buf, "WEBP", quality=90, exif=gps_exif())
    out["webp"] = ("image/webp", "photo.webp", buf.getvalue())
    return out


def post_json(url, body):
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())


def post_form(url, fields, filename, content_type, data):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url, data=b"".join(parts), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request) as reply:
        reply.read()


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def broker_complete(content_type, filename, data):
    signed = post_json(
        f"{BROKER}/uploads/sign",
        {"kind": "avatar", "filename": filename, "content_type": content_type, "size": len(data)},
    )
    post_form(signed["url"], signed["fields"], filename, content_type, data)
    seconds, done = timed(lambda: post_json(f"{BROKER}/uploads/complete", {"objectKey": signed["objectKey"]}))
    assert "exif" in done["removed"] or content_type == "image/png", done
    return seconds


def baseline_complete(content_type, filename, data):
    key = f"staging/baseline/{uuid.uuid4()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
    seconds, _ = timed(lambda: post_json(f"{BASELINE}/complete", {"objectKey": key}))
    return seconds


def get_put(content_type, filename, data):
    """The floor: the same bytes read and written once through the same store."""
    key = f"staging/plain/{uuid.uuid4()}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType=content_type)
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=600)
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": key + ".copy", "ContentType": content_type}, ExpiresIn=600
    )

    def run():
        with urllib.request.urlopen(get_url) as reply:
            body = reply.read()
        request = urllib.request.Request(put_url, data=body, method="PUT", headers={"Content-Type": content_type})
        with urllib.request.urlopen(request) as reply:
            reply.read()

    seconds, _ = timed(run)
    return seconds


def main():
    cases = fixtures()
    runners = {"broker": broker_complete, "python": baseline_complete, "get+put": get_put}
    samples = {case: {name: [] for name in runners} for case in cases}
    for name, runner in runners.items():  # warm-up, not counted
        for content_type, filename, data in cases.values():
            runner(content_type, filename, data)
    for round_no in range(ROUNDS):
        order = list(runners.items())
        if round_no % 2:
            order.reverse()
        for case, (content_type, filename, data) in cases.items():
            for name, runner in order:
                samples[case][name].append(runner(content_type, filename, data))
    failed = False
    print(f"completion, median of {ROUNDS} interleaved rounds, same embedded store")
    print(f"{'file':<22} {'size':>9} {'broker':>9} {'python':>9} {'get+put':>9} {'python/broker':>14} {'broker/get+put':>15}")
    for case, (content_type, filename, data) in cases.items():
        m = {name: statistics.median(values) * 1000 for name, values in samples[case].items()}
        speedup = m["python"] / m["broker"]
        floor = m["broker"] / m["get+put"]
        print(
            f"{case:<22} {len(data):>9} {m['broker']:>7.1f}ms {m['python']:>7.1f}ms {m['get+put']:>7.1f}ms"
            f" {speedup:>13.2f}x {floor:>14.2f}x"
        )
        failed |= speedup < 3.0 or floor > 1.5
    print("targets: python/broker >= 3.00x, broker/get+put <= 1.50x:", "missed" if failed else "met")
    # The floor under any full decode, in this process and run: Pillow's C
    # decoders (libjpeg-turbo, libwebp, zlib) on the same bytes, no I/O.
    # 3x the Python stack leaves the broker python/3 for its whole request.
    print(f"{'file':<22} {'pillow decode':>14} {'+ re-save':>10} {'python/3':>9}")
    for case, (content_type, filename, data) in cases.items():
        decode, resave = [], []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            image = Image.open(io.BytesIO(data))
            image.load()
            decoded = time.perf_counter()
            image.save(io.BytesIO(), image.format, **({"quality": 95} if image.format == "JPEG" else {}))
            decode.append(decoded - started)
            resave.append(time.perf_counter() - decoded)
        python = statistics.median(samples[case]["python"]) * 1000
        print(
            f"{case:<22} {statistics.median(decode) * 1000:>12.1f}ms {statistics.median(resave) * 1000:>8.1f}ms"
            f" {python / 3:>7.1f}ms"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
