"""BASELINE ONLY, not part of the product.

The completion a team would write from the seed design with FastAPI + boto3 +
Pillow: HEAD the staging object, GET it, `Image.open`, re-save it without
EXIF (JPEG quality 95; PNG and WebP re-encoded), PUT the result to the served
key, delete the staging object, and answer with a presigned GET. It exists so
`scripts/bench-complete.sh` can measure the broker's `/uploads/complete`
against it on the same store, with the same files, in the same run.

Configured by environment: STORE_URL, STORE_BUCKET, STORE_ACCESS_KEY,
STORE_SECRET_KEY, STORE_REGION.
"""

import io
import os

import boto3
from botocore.config import Config
from fastapi import FastAPI, HTTPException
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
