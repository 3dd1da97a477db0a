"""BASELINE ONLY, not part of the product.

The completion a team would write from the seed design with FastAPI + boto3 +
Pillow: HEAD the staging object, GET it, `Image.open`, re-save it without
EXIF (JPEG quality 95; PNG and WebP re-encoded), PUT the result to the served
key, delete the staging object, and answer with a presigned GET. It exists so
`scripts/bench-complete.sh` can measure the broker's `/uploads/complete`
against it on the same store, with the same files, in the same run.

`POST /uploads/sign` is the seed design's signing, for `scripts/bench-sign.sh`:
an HS256 bearer token verified on every request, the request checked against
the avatar profile, a boto3 `generate_presigned_post` pinning what the broker
pins (key, type, size range, the `x-amz-meta-*` record, each with `eq`), and
an audit line at INFO. The token check is a few lines of the standard library
(cheaper than PyJWT), so the baseline is, if anything, flattered.

Configured by environment: STORE_URL, STORE_BUCKET, STORE_ACCESS_KEY,
STORE_SECRET_KEY, STORE_REGION; the sign route also AUTH_HS256_SECRET,
AUTH_ISSUER and AUTH_AUDIENCE.
"""

import base64
import hashlib
import hmac
import io
import json
import logging
import os
import sys
import time
import uuid

import boto3
from botocore.config import Config
from fastapi import FastAPI, Header, HTTPException
from PIL import Image
from pydantic import BaseModel

BUCKET = os.environ["STORE_BUCKET"]
s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["STORE_URL"],
    aws_access_key_id=os.environ["STORE_ACCESS_KEY"],
    aws_secret_access_key=os.environ["STORE_SECRET_KEY"],
    region_name=os.environ.get("STORE_REGION", "us-east-1"),
    config=Config(
        s3={"addressing_style": "path"},
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    ),
)
app = FastAPI()

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


class Complete(BaseModel):
    objectKey: str


@app.post("/complete")
def complete(body: Complete):
    head = s3.head_object(Bucket=BUCKET, Key=body.objectKey)
    if head["ContentLength"] > 2 * 1024 * 1024:
        raise HTTPException(422, "too large")
    data = s3.get_object(Bucket=BUCKET, Key=body.objectKey)["Body"].read()
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:  # noqa: BLE001 - the baseline refuses anything Pillow cannot read
        raise HTTPException(422, f"not an image: {error}") from error
    content_type = Image.MIME.get(image.format)
    if content_type not in FORMATS:
        raise HTTPException(422, "unsupported type")
    out = io.BytesIO()
    if image.format == "JPEG":
        image.save(out, "JPEG", quality=95)  # no exif= argument: EXIF is dropped
    else:
        image.save(out, FORMATS[content_type])
    final_key = "served/" + body.objectKey.rsplit("/", 1)[-1]
    s3.put_object(Bucket=BUCKET, Key=final_key, Body=out.getvalue(), ContentType=content_type)
    s3.delete_object(Bucket=BUCKET, Key=body.objectKey)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": final_key}, ExpiresIn=3600
    )
    return {"objectKey": final_key, "url": url, "expiresIn": 3600, "size": out.tell()}


# --- signing (scripts/bench-sign.sh) ---

SECRET = os.environ.get("AUTH_HS256_SECRET", "").encode()
ISSUER = os.environ.get("AUTH_ISSUER")
AUDIENCE = os.environ.get("AUTH_AUDIENCE")
AVATAR_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
AVATAR_MAX = 2 * 1024 * 1024
audit = logging.getLogger("audit")
audit.setLevel(logging.INFO)
audit.addHandler(logging.StreamHandler(sys.stdout))


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verified_claims(authorization):
    """The claims of a valid HS256 bearer token, else 401."""
    try:
        scheme, token = authorization.split(" ", 1)
        header, claims, signature = token.split(".")
        if scheme != "Bearer" or json.loads(b64url(header)).get("alg") != "HS256":
            raise ValueError("not an HS256 bearer token")
        expected = hmac.new(SECRET, f"{header}.{claims}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url(signature)):
            raise ValueError("bad signature")
        claims = json.loads(b64url(claims))
        if claims["exp"] < time.time() or claims["iss"] != ISSUER or claims["aud"] != AUDIENCE:
            raise ValueError("expired or not for us")
        return claims
    except (ValueError, KeyError) as error:
        raise HTTPException(401, "unauthenticated") from error


class Sign(BaseModel):
    kind: str
    filename: str
    content_type: str
    size: int | None = None


@app.post("/uploads/sign")
async def sign(body: Sign, authorization: str = Header("")):
    claims = verified_claims(authorization)
    tenant, subject = claims["tenant"], claims["sub"]
    extension = AVATAR_TYPES.get(body.content_type)
    filename = body.filename.rsplit("/", 1)[-1]
    if body.kind != "avatar" or extension is None or not filename.lower().endswith("." + extension[:3]):
        raise HTTPException(400, "unsupported")
    if body.size is not None and not 0 < body.size <= AVATAR_MAX:
        raise HTTPException(400, "too large")
    key = f"staging/{tenant}/avatar/{uuid.uuid4()}.{extension}"
    fields = {
        "Content-Type": body.content_type,
        "x-amz-meta-profile": "avatar",
        "x-amz-meta-tenant": tenant,
        "x-amz-meta-filename": filename,
        "x-amz-meta-subject": subject,
    }
    conditions = [["content-length-range", 1, AVATAR_MAX]] + [["eq", f"${k}", v] for k, v in fields.items()]
    post = s3.generate_presigned_post(BUCKET, key, Fields=fields, Conditions=conditions, ExpiresIn=3600)
    audit.info("audit action=sign tenant=%r subject=%r key=%r outcome=ok", tenant, subject, key)
    return {"method": "POST", "url": post["url"], "fields": post["fields"], "objectKey": key,
            "expiresIn": 3600, "maxBytes": AVATAR_MAX}
