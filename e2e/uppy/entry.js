// The in-page side of e2e/tests/uppy.test.js and e2e/tests/uppy-multipart.test.js, bundled
// with Uppy by build.js.
//
// Uppy 4 (@uppy/core + @uppy/aws-s3) sends the file straight to the store with the broker's
// presigned POST form or presigned PUT, through `getUploadParameters` and
// `shouldUseMultipart: false` (`uploadWithUppy`), or, with `endpoint` set to the broker, in
// parts through the broker's Companion-compatible /s3/* routes (`uploadWithUppyCompanion`);
// when Uppy reports success the page calls `POST /uploads/complete`. Only the broker's HTTP
// API is used here, not web/upload-broker.js: this is the third-party client's path. The
// tests drive it through `window.uppyE2E`.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";

export const versions = { core: Uppy.VERSION, awsS3: AwsS3.VERSION };

/** POSTs JSON to the broker; resolves to `{ status, body }` (parsed JSON, else the text). */
async function callBroker(apiBase, route, payload, signal, headers = {}) {
  const response = await fetch(`${apiBase}${route}`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify(payload),
    signal,
  });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body };
}

function fromBase64(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Uploads one file with Uppy and, once `upload()` resolves with it successful, completes it.
 * Resolves to a plain, serialisable record of what happened:
 * `{ versions, signs, uploadErrors, successes, result, objectKey, completion, timedOut }`.
 *
 * @param {object} options
 * @param {string} options.apiBase  the broker's origin
 * @param {"avatar"|"export"} options.kind
 * @param {string} options.name  the file name
 * @param {string} options.type  the file's content type
 * @param {string} options.base64  the file's bytes
 * @param {boolean} [options.declareSize=true]  send the size when signing (required in PUT
 *        mode); false leaves the size limit to the store's POST policy
 * @param {number} [options.timeoutMs=30000]  how long `upload()` may take to settle
 */
export async function uploadWithUppy({ apiBase, kind, name, type, base64, declareSize = true, timeoutMs = 30_000 }) {
  const record = {
    versions,
    signs: [],
    uploadErrors: [],
    successes: [],
    result: null,
    rejected: null,
    objectKey: null,
    completion: null,
    timedOut: false,
  };
  const uppy = new Uppy({ autoProceed: false });
  uppy.use(AwsS3, {
    shouldUseMultipart: false,
    async getUploadParameters(file, { signal }) {
      const request = { kind, filename: file.name, content_type: file.type };
      if (declareSize) request.size = file.size;
      const { status, body } = await callBroker(apiBase, "/uploads/sign", request, signal);
      record.signs.push({ request, status, body });
      if (status !== 200) {
        const error = body?.error ?? {};
        throw new Error(`the broker refused to sign (HTTP ${status}): ${error.code}: ${error.message}`);
      }
      uppy.setFileMeta(file.id, { objectKey: body.objectKey });
      return body.method === "PUT"
        ? { method: "PUT", url: body.url, headers: body.headers }
        : { method: "POST", url: body.url, fields: body.fields };
    },
  });
  uppy.on("upload-error", (file, error) => {
    const source = error?.source;
    record.uploadErrors.push({
      file: file?.name,
      message: String(error?.message ?? error),
      status: typeof source?.status === "number" ? source.status : null,
      storeAnswer: typeof source?.responseText === "string" ? source.responseText.slice(0, 2000) : null,
    });
  });
  uppy.on("upload-success", (file, response) => {
    record.successes.push({
      file: file?.name,
      status: response?.status ?? null,
      uploadURL: response?.uploadURL ?? null,
      etag: response?.body?.ETag ?? null,
      location: response?.body?.location ?? null,
    });
  });

  const data = new Blob([fromBase64(base64)], { type });
  const fileId = uppy.addFile({ name, type, data, source: "e2e" });
  const succeeded = await settle(uppy, record, timeoutMs);
  record.objectKey = uppy.getFile(fileId)?.meta?.objectKey ?? null;
  if (succeeded) record.completion = await callBroker(apiBase, "/uploads/complete", { objectKey: record.objectKey });
  uppy.destroy();
  return record;
}

/**
 * Runs `uppy.upload()` for at most `timeoutMs`, noting in `record` how it settled
 * (`rejected`, `timedOut`, `result`); true when the one file succeeded.
 */
async function settle(uppy, record, timeoutMs) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  let outcome;
  try {
    outcome = await Promise.race([uppy.upload(), timeout]);
  } catch (error) {
    record.rejected = String(error?.message ?? error);
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "timeout") {
    record.timedOut = true;
    uppy.cancelAll();
    return false;
  }
  if (!outcome) return false;
  record.result = {
    successful: (outcome.successful ?? []).map((f) => f.name),
    failed: (outcome.failed ?? []).map((f) => ({ name: f.name, error: String(f.error) })),
  };
  return record.result.successful.length === 1 && record.result.failed.length === 0;
}

/**
 * Uploads one file, fetched from `fileUrl` on the page's origin, with Uppy's own multipart
 * code against the broker's Companion-compatible routes (`endpoint`, with `headers` carrying
 * the credential), then completes it with `POST /uploads/complete`. Uppy chooses the
 * parts itself (5 MiB for files up to 50 GB), which is the part size of the broker's
 * Companion routes.
 * Resolves to `{ versions, size, parts, successes, uploadErrors, result, rejected, key,
 * completion, timedOut }`.
 */
export async function uploadWithUppyCompanion({ apiBase, headers, fileUrl, name, type, kind, timeoutMs = 240_000 }) {
  const record = { versions, size: null, parts: [], successes: [], uploadErrors: [], result: null, rejected: null, key: null, completion: null, timedOut: false };
  const data = await (await fetch(fileUrl)).blob();
  record.size = data.size;
  const uppy = new Uppy({ autoProceed: false });
  uppy.use(AwsS3, {
    endpoint: apiBase,
    headers,
    shouldUseMultipart: (file) => file.size > 100 * 1024 * 1024,
    allowedMetaFields: ["kind"],
  });
  uppy.on("s3-multipart:part-uploaded", (_file, part) => record.parts.push(part.PartNumber));
  uppy.on("upload-error", (file, error) => {
    record.uploadErrors.push({ file: file?.name, message: String(error?.message ?? error), cause: String(error?.cause?.message ?? "") });
  });
  uppy.on("upload-success", (file, response) => {
    record.successes.push({ file: file?.name, status: response?.status ?? null, location: response?.body?.location ?? null });
  });
  const fileId = uppy.addFile({ name, type, data, meta: { kind }, source: "e2e" });
  const succeeded = await settle(uppy, record, timeoutMs);
  record.key = uppy.getFile(fileId)?.s3Multipart?.key ?? null;
  if (succeeded && record.key) {
    record.completion = await callBroker(apiBase, "/uploads/complete", { objectKey: record.key }, undefined, headers);
  }
  uppy.destroy();
  return record;
}

/**
 * `POST /uploads/download`, then fetches the signed URL from the page (cross-origin, so the
 * store's CORS must allow it) and, with `render`, shows it in an <img>.
 * Resolves to `{ link, status, contentType, base64, image? }`.
 */
export async function downloadInBrowser({ apiBase, objectKey, render = false }) {
  const link = await callBroker(apiBase, "/uploads/download", { objectKey });
  if (link.status !== 200) return { link };
  const response = await fetch(link.body.url);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const out = {
    link,
    status: response.status,
    contentType: response.headers.get("content-type"),
    base64: toBase64(bytes),
  };
  if (render) {
    const img = document.createElement("img");
    img.alt = "downloaded";
    document.body.append(img);
    img.src = link.body.url;
    try {
      await img.decode();
    } catch (error) {
      out.imageError = String(error?.message ?? error);
    }
    out.image = { complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight };
  }
  return out;
}
