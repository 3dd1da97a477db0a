// The in-page side of e2e/tests/uppy.test.js and e2e/tests/uppy-multipart.test.js, bundled
// with Uppy by build.js.
//
// Uppy 4 (@uppy/core + @uppy/aws-s3) sends the file straight to the store with the broker's
// presigned POST form or presigned PUT, through `getUploadParameters` and
// `shouldUseMultipart: false` (`uploadWithUppy`), or, with `endpoint` set to the broker, in
// parts through the broker's Companion-compatible /s3/* routes (`uploadWithUppyCompanion`);
// when Uppy reports success the page calls `POST /uploads/complete`. A multipart upload that
// must survive a reload uses @uppy/golden-retriever, Uppy's own plugin for that
// (`startResumableUppy`, then `resumeUppy` on the reloaded page). Only the broker's HTTP
// API is used here, not web/upload-broker.js: this is the third-party client's path. The
// tests (and scripts/bench-uppy-resume.sh) drive it through `window.uppyE2E`.
import Uppy from "@uppy/core";
import AwsS3 from "@uppy/aws-s3";
import GoldenRetriever from "@uppy/golden-retriever";

export const versions = { core: Uppy.VERSION, awsS3: AwsS3.VERSION, goldenRetriever: GoldenRetriever.VERSION };

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
  const record = { versions, size: null, parts: [], successes: [], uploadErrors: [], result: null, rejected: null, key: null, completion: null, timedOut: false, seconds: null, completionSeconds: null };
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
  const started = performance.now();
  const succeeded = await settle(uppy, record, timeoutMs);
  record.seconds = (performance.now() - started) / 1000;
  record.key = uppy.getFile(fileId)?.s3Multipart?.key ?? null;
  if (succeeded && record.key) await completeInBroker(apiBase, headers, record);
  uppy.destroy();
  return record;
}

/** `POST /uploads/complete` of `record.key`, noting the answer and the seconds it took. */
async function completeInBroker(apiBase, headers, record) {
  const started = performance.now();
  record.completion = await callBroker(apiBase, "/uploads/complete", { objectKey: record.key }, undefined, headers);
  record.completionSeconds = (performance.now() - started) / 1000;
}

/** The Uppy id of the resumable flow: Golden Retriever keeps its state under it. */
const RESUMABLE_ID = "broker-resumable";

/**
 * Uppy as a page that survives a reload sets it up: @uppy/aws-s3 with `endpoint` (the
 * broker's Companion routes) and `headers`, in parts whatever the size, and
 * @uppy/golden-retriever, which keeps the selected files, with each one's `s3Multipart`
 * `{ uploadId, key }`, in localStorage (and blobs up to 10 MiB in IndexedDB: a bigger file
 * comes back as a "ghost" that the user selects again). `onRestored` is called once Golden
 * Retriever has looked for what an earlier page left.
 */
function resumableUppy({ apiBase, headers, onRestored }) {
  const uppy = new Uppy({ id: RESUMABLE_ID, autoProceed: false });
  if (onRestored) uppy.once("restored", onRestored);
  uppy.use(AwsS3, { endpoint: apiBase, headers, shouldUseMultipart: true, allowedMetaFields: ["kind"] });
  uppy.use(GoldenRetriever, { serviceWorker: false });
  return uppy;
}

/** The file at `fileUrl` as the user's File: a fixed lastModified, so its Uppy id is stable. */
async function pickFile(fileUrl, name, type, lastModified) {
  const blob = await (await fetch(fileUrl)).blob();
  return new File([blob], name, { type, lastModified });
}

/**
 * Starts a multipart upload of the file at `fileUrl` with the resumable Uppy and resolves
 * once `stopAfterParts` parts are stored, leaving the upload running: the caller then
 * reloads the page mid-way. Resolves to `{ versions, size, parts, uploadId, key, errors,
 * seconds }` (`parts`: those stored until it resolves; `seconds`: from adding the file to
 * then).
 */
export async function startResumableUppy({ apiBase, headers, fileUrl, name, type, kind, lastModified, stopAfterParts }) {
  const file = await pickFile(fileUrl, name, type, lastModified);
  const uppy = resumableUppy({ apiBase, headers });
  const record = { versions, size: file.size, parts: [], uploadId: null, key: null, errors: [], seconds: null };
  const started = performance.now();
  return new Promise((resolve) => {
    uppy.on("s3-multipart:part-uploaded", (uploaded, part) => {
      record.parts.push(part.PartNumber);
      if (record.parts.length === stopAfterParts) {
        Object.assign(record, uppy.getFile(uploaded.id)?.s3Multipart ?? {});
        // Golden Retriever saves the state at most every 500 ms: let it save this one.
        setTimeout(() => {
          record.seconds = (performance.now() - started) / 1000;
          resolve(record);
        }, 600);
      }
    });
    uppy.on("upload-error", (_file, error) => {
      record.errors.push(String(error?.message ?? error));
      resolve(record);
    });
    uppy.addFile({ name, type, data: file, meta: { kind }, source: "e2e" });
    uppy.upload().catch((error) => {
      record.errors.push(String(error?.message ?? error));
      resolve(record);
    });
  });
}

/**
 * On the reloaded page: what a user does. The resumable Uppy comes back with Golden
 * Retriever's saved state (the file as a ghost, with its `s3Multipart`); the user selects the
 * same file again and presses Upload, which confirms the restore: Uppy lists the parts the
 * store holds (`GET /s3/multipart/{uploadId}`), uploads only the missing ones and completes.
 * Then the page calls `POST /uploads/complete`. Resolves to `{ restored, parts, result,
 * key, uploadId, completion, timedOut, seconds, completionSeconds }` (`seconds`:
 * from Upload to the file's upload-success, CompleteMultipartUpload included).
 */
export async function resumeUppy({ apiBase, headers, fileUrl, name, type, kind, lastModified, timeoutMs = 240_000 }) {
  const record = { restored: null, parts: [], uploadErrors: [], result: null, key: null, uploadId: null, completion: null, timedOut: false, seconds: null, completionSeconds: null };
  let onRestored;
  const restored = new Promise((resolve) => {
    onRestored = resolve;
  });
  const uppy = resumableUppy({ apiBase, headers, onRestored });
  await Promise.race([restored, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  record.restored = uppy.getFiles().map((f) => ({ name: f.name, isGhost: Boolean(f.isGhost), s3Multipart: f.s3Multipart ?? null }));
  // Nothing to resume (the upload finished before the reload, or nothing was kept).
  if (record.restored.length === 0) return record;
  const file = await pickFile(fileUrl, name, type, lastModified);
  const fileId = uppy.addFile({ name, type, data: file, meta: { kind }, source: "e2e" });
  uppy.on("s3-multipart:part-uploaded", (_file, part) => record.parts.push(part.PartNumber));
  uppy.on("upload-error", (_file, error) => record.uploadErrors.push(String(error?.message ?? error)));
  uppy.on("error", (error) => record.uploadErrors.push(String(error?.message ?? error)));
  const started = performance.now();
  let timer;
  // A restored upload runs through `uppy.restore()`, which emits no `complete`: the file's
  // own upload-success or upload-error tells how it ended.
  const outcome = await Promise.race([
    new Promise((resolve) => {
      uppy.on("upload-success", (done) => done.id === fileId && resolve({ successful: [done.name], failed: [] }));
      uppy.on("upload-error", (failed, error) => failed?.id === fileId && resolve({ successful: [], failed: [{ name: failed.name, error: String(error?.message ?? error) }] }));
      // Upload, on an Uppy with a recovered state, is a confirmed restore (as the Dashboard does).
      uppy.emit("restore-confirmed");
    }),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  record.seconds = (performance.now() - started) / 1000;
  if (outcome === "timeout") {
    record.timedOut = true;
    uppy.cancelAll();
    return record;
  }
  record.result = outcome;
  Object.assign(record, { key: uppy.getFile(fileId)?.s3Multipart?.key ?? null, uploadId: uppy.getFile(fileId)?.s3Multipart?.uploadId ?? null });
  if (record.result.successful.length === 1 && record.key) await completeInBroker(apiBase, headers, record);
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
