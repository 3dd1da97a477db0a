// upload-broker.js: a small, dependency-free browser client for the upload broker.
//
//   sign → upload straight to the store (presigned POST or PUT, XHR for progress) → complete
//
// The store is reached by a presigned POST form or, for stores without POST Object
// (R2, B2; `S3_UPLOAD_MODE=put`), a presigned PUT: the sign reply says which. Files above
// the multipart threshold (or when the broker answers `multipart_required`) go up in parts:
// `POST /uploads/multipart`, parts signed in batches on demand and PUT a few at a time,
// then `POST /uploads/multipart/{uploadId}/complete`. A multipart upload survives a page
// reload: its id is kept in localStorage under the file's name, size and lastModified, and
// choosing the same file again uploads only the parts the store does not have yet.
//
// Copy this file into a frontend or import it from the broker (`GET /upload-broker.js`).
// See docs/js-client.md. Every failure is an `UploadError` whose `code` is either the
// broker's error code (`too_large`, `unsupported_type`, `not_an_image`, …) or one of the
// client's own: `too_large`, `empty_file`, `expired`, `store_refused` (store refusals),
// `network_error`, `aborted`, `unexpected_response`.

/** Content types by extension, for files whose `type` the browser left empty or guessed oddly. */
const TYPES_BY_EXTENSION = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  csv: "text/csv",
  json: "application/json",
  pdf: "application/pdf",
  zip: "application/zip",
};

export class UploadError extends Error {
  /** Stable, machine-readable code (see the module header). */
  code;
  /** HTTP status of the refusing reply; 0 when there was none (network error, abort). */
  status;
  /** Extra facts: `stage` ("sign" | "upload" | "complete" | "download"), and for store
   *  refusals `storeCode`/`storeMessage`, plus `maxBytes` when known. */
  details;

  constructor(message, { code, status = 0, details = {}, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "UploadError";
    this.code = code;
    this.status = status;
    this.details = details;
  }

  /** The pipeline step that failed. */
  get stage() {
    return this.details?.stage;
  }
}

/**
 * Sign, upload and complete one file. Resolves to the completion JSON:
 * `{ objectKey, url, expiresIn, contentType, size, sha256, removed, filename }`.
 *
 * @param {File|Blob} file  a File (its name is used) or a Blob with `options.filename`
 * @param {object} options
 * @param {"avatar"|"file"} options.kind  (`"export"`, the file profile's former name, is still accepted)
 * @param {string} [options.apiBase=""]  the broker's origin, e.g. "https://uploads.example.com"
 * @param {AbortSignal} [options.signal]  aborts whichever step is running
 * @param {(p: {loaded: number, total: number, percent: number}) => void} [options.onProgress]
 * @param {(stage: "sign"|"upload"|"complete") => void} [options.onStage]
 * @param {typeof fetch} [options.fetch]  a fetch to use for the broker API calls
 * @param {Record<string,string>} [options.headers]  extra headers for the broker API calls
 *        (e.g. Authorization); never sent to the store
 * @param {string} [options.filename]  overrides `file.name`
 * @param {string} [options.contentType]  overrides the detected content type
 * @param {boolean} [options.declareSize=true]  send the size when signing, so an oversized
 *        file is refused before any byte is sent; false leaves the check to the store
 * @param {string|boolean} [options.sha256]  the whole file's SHA-256 (64 lowercase hex
 *        digits), or `true` to compute it here with WebCrypto, which reads the whole file into
 *        memory; the broker then refuses a stored object whose bytes differ (`checksum_mismatch`)
 * @param {boolean} [options.multipart]  force (`true`) or forbid (`false`) a multipart upload;
 *        by default a file above `multipartThreshold` goes up in parts, and so does one the
 *        broker refuses to sign in one request (`multipart_required`). The multipart options
 *        are those of `uploadMultipart`
 * @param {number} [options.multipartThreshold=104857600]  bytes (the broker's default
 *        `MULTIPART_THRESHOLD`, 100 MiB)
 */
export async function uploadFile(file, options = {}) {
  const { onStage, multipart, multipartThreshold = DEFAULT_MULTIPART_THRESHOLD } = options;
  if (multipart === true || (multipart !== false && (file?.size ?? 0) > multipartThreshold)) {
    return uploadMultipart(file, options);
  }
  onStage?.("sign");
  let signed;
  try {
    signed = await sign(file, options);
  } catch (error) {
    // The broker's threshold is lower than this client's: it says so, and the file goes in parts.
    if (error?.code === "multipart_required" && multipart !== false) return uploadMultipart(file, options);
    throw error;
  }
  onStage?.("upload");
  await uploadToStore(file, signed, options);
  onStage?.("complete");
  return complete(signed.objectKey, options);
}

/**
 * `POST /uploads/sign`. Resolves to `{ method, url, fields | headers, objectKey, expiresIn, maxBytes }`:
 * `{ method: "POST", url, fields }` or `{ method: "PUT", url, headers }`, exactly what Uppy's
 * `@uppy/aws-s3` `getUploadParameters` expects. A PUT-mode broker requires the size
 * (`declareSize` must stay true).
 */
export async function sign(file, { kind, apiBase = "", signal, fetch: customFetch, headers, filename, contentType, declareSize = true, sha256 } = {}) {
  const name = filename ?? file?.name ?? "";
  const body = { kind, filename: name, content_type: contentType ?? guessContentType(name, file?.type) };
  if (declareSize && typeof file?.size === "number") body.size = file.size;
  const digest = await wholeFileSha256(file, sha256);
  if (digest) body.sha256 = digest;
  return callApi("/uploads/sign", body, { stage: "sign", apiBase, signal, customFetch, headers });
}

/**
 * Sends the file straight to the store, in the mode the broker signed for:
 * - `method: "POST"`: `signed.fields` then the file (last) as multipart form data;
 * - `method: "PUT"`: the raw bytes with exactly `signed.headers` (the signature pins
 *   the content type, the exact size and the object's metadata).
 * Resolves to `{ status, etag, location }` when the store accepts (2xx).
 */
export function uploadToStore(file, signed, { signal, onProgress, filename } = {}) {
  return new Promise((resolve, reject) => {
    const fail = (message, code, status, extra = {}, cause) =>
      reject(new UploadError(message, { code, status, details: { stage: "upload", maxBytes: signed?.maxBytes, ...extra }, cause }));

    if (signal?.aborted) return fail("the upload was cancelled", "aborted", 0);

    const method = signed.method ?? "POST";
    let body = file;
    if (method === "POST") {
      body = new FormData();
      for (const [key, value] of Object.entries(signed.fields ?? {})) body.append(key, value);
      // The file must be the last part: S3 ignores every field after it.
      const name = filename ?? file?.name;
      if (name) body.append("file", file, name);
      else body.append("file", file);
    }

    const xhr = new XMLHttpRequest();
    const onAbortSignal = () => xhr.abort();
    const cleanup = () => signal?.removeEventListener("abort", onAbortSignal);
    signal?.addEventListener("abort", onAbortSignal, { once: true });

    if (onProgress) {
      xhr.upload.addEventListener("progress", (event) => {
        const total = event.lengthComputable ? event.total : file?.size ?? 0;
        onProgress({ loaded: event.loaded, total, percent: total ? Math.min(100, (event.loaded / total) * 100) : 0 });
      });
    }
    xhr.addEventListener("load", () => {
      cleanup();
      if (xhr.status >= 200 && xhr.status < 300) {
        if (onProgress) {
          const total = file?.size ?? 0;
          onProgress({ loaded: total, total, percent: 100 });
        }
        resolve({ status: xhr.status, etag: xhr.getResponseHeader("ETag"), location: xhr.getResponseHeader("Location") });
        return;
      }
      const { code: storeCode, message: storeMessage } = parseStoreError(xhr.responseText);
      const { code, message } = mapStoreError(xhr.status, storeCode, storeMessage, signed?.maxBytes, file?.size);
      fail(message, code, xhr.status, { storeCode, storeMessage });
    });
    xhr.addEventListener("error", () => {
      cleanup();
      // A store may answer an oversized body early and close the connection; the browser then
      // reports a network error instead of the 400. The signed limit tells which it was.
      if (typeof signed?.maxBytes === "number" && typeof file?.size === "number" && file.size > signed.maxBytes) {
        fail(`the file is ${file.size} bytes; the limit is ${signed.maxBytes} bytes`, "too_large", 0);
      } else {
        fail("the store could not be reached (network error or CORS refusal)", "network_error", 0);
      }
    });
    xhr.addEventListener("abort", () => {
      cleanup();
      fail("the upload was cancelled", "aborted", 0);
    });
    xhr.addEventListener("timeout", () => {
      cleanup();
      fail("the upload timed out", "network_error", 0);
    });

    xhr.open(method, signed.url);
    if (method === "PUT") {
      for (const [name, value] of Object.entries(signed.headers ?? {})) xhr.setRequestHeader(name, value);
    }
    xhr.send(body);
  });
}

/** `POST /uploads/complete`: verifies the staged object and promotes it. */
export async function complete(objectKey, { apiBase = "", signal, fetch: customFetch, headers } = {}) {
  return callApi("/uploads/complete", { objectKey }, { stage: "complete", apiBase, signal, customFetch, headers });
}

/** `POST /uploads/download`: a fresh signed GET for a completed object. */
export async function requestDownload(objectKey, { apiBase = "", signal, fetch: customFetch, headers } = {}) {
  return callApi("/uploads/download", { objectKey }, { stage: "download", apiBase, signal, customFetch, headers });
}

// ---------------------------------------------------------------------------------------
// Multipart: large files in parts, resumable after a reload.

/** The broker's default `MULTIPART_THRESHOLD`: above it `/uploads/sign` answers `multipart_required`. */
export const DEFAULT_MULTIPART_THRESHOLD = 100 * 1024 * 1024;
/** How many part numbers one `…/parts` call signs (the broker takes at most 100). */
const SIGN_BATCH = 16;
/** A signed part URL this close to its expiry is signed again before use. */
const EXPIRY_MARGIN_MS = 30_000;
/** Attempts per part on a network error, a 5xx, an expired URL or damaged bytes (each with a fresh URL). */
const PART_ATTEMPTS = 3;
const STORAGE_PREFIX = "upload-broker:multipart:";

/**
 * Uploads one file in parts and completes it. Resolves to the completion JSON, the same as
 * `uploadFile`'s. With `storage` (localStorage by default), the upload's id is remembered
 * under the file's name, size and lastModified until it completes, so a later call with the
 * same file (after a reload, or after `signal` stopped this one) lists the parts the store
 * already has and uploads only the missing ones. Aborting `signal` stops the transfer and
 * keeps the upload resumable (`UploadError` `aborted`, `details.resumable: true`);
 * `abortMultipart` cancels it for good.
 *
 * @param {File|Blob} file
 * @param {object} options  those of `uploadFile` (`kind`, `apiBase`, `headers`, `signal`,
 *        `onProgress` across all parts, `onStage`, `fetch`, `filename`, `contentType`,
 *        `sha256`), plus:
 * @param {number} [options.concurrency=4]  parts in flight at once
 * @param {(p: {partNumber: number, etag: string, size: number, done: number, partCount: number}) => void} [options.onPart]
 *        after each part the store accepted
 * @param {(s: {uploadId: string, key: string, partSize: number, partCount: number, uploaded: number[]}) => void} [options.onSession]
 *        once the upload is created or resumed; `uploaded` lists the parts the store already has
 * @param {Storage|null} [options.storage=localStorage]  where resumable uploads are
 *        remembered; `null` forgets them
 * @param {boolean} [options.partChecksums=false]  create the upload with
 *        `checksumAlgorithm: "SHA256"`: each part's SHA-256 is computed with WebCrypto (one
 *        part in memory at a time) and signed into its URL, so the store refuses a part whose
 *        bytes changed on the way. A resumed upload follows what it was created with.
 */
export async function uploadMultipart(file, options = {}) {
  const { onStage, onSession, storage = defaultStorage() } = options;
  onStage?.("sign");
  const session = await openSession(file, { ...options, storage });
  const uploaded = [...session.done.keys()].sort((a, b) => a - b);
  onSession?.({ uploadId: session.uploadId, key: session.key, partSize: session.partSize, partCount: session.partCount, uploaded });
  onStage?.("upload");
  try {
    await uploadParts(file, session, options);
  } catch (error) {
    if (error instanceof UploadError && error.code === "aborted") error.details.resumable = Boolean(storage);
    throw error;
  }
  onStage?.("complete");
  const parts = [...session.done].sort(([a], [b]) => a - b).map(([partNumber, etag]) => ({ partNumber, etag }));
  try {
    const result = await callApi(`${multipartPath(session.uploadId)}/complete`, { parts }, { ...apiOptions(options), stage: "complete" });
    forgetSession(storage, file, options);
    return result;
  } catch (error) {
    // A refusal (verification, checksum, unknown upload) ends the upload on the broker: nothing
    // is left to resume. A network error, a 429 or a 5xx may be retried with the same file.
    const refused = error instanceof UploadError && error.status >= 400 && error.status < 500 && error.status !== 429;
    if (refused) forgetSession(storage, file, options);
    throw error;
  }
}

/**
 * Cancels a multipart upload for good: `DELETE /uploads/multipart/{uploadId}` (the store
 * drops its parts) and forgets it. `target` is the File whose remembered upload to cancel,
 * or an uploadId. Resolves to the broker's `{ aborted, expiresIn }`, or `null` when no
 * upload is remembered for that file.
 */
export async function abortMultipart(target, options = {}) {
  const { storage = defaultStorage() } = options;
  const uploadId = typeof target === "string" ? target : recallSession(storage, target, options)?.uploadId;
  if (!uploadId) return null;
  const reply = await callApi(multipartPath(uploadId), undefined, { ...apiOptions(options), stage: "abort", method: "DELETE" });
  if (typeof target !== "string") forgetSession(storage, target, options);
  return reply;
}

/** `GET /uploads/multipart/{uploadId}`: `{ uploadId, key, partSize, partCount, parts: [{ partNumber, etag, size }] }`. */
export async function listMultipart(uploadId, options = {}) {
  return callApi(multipartPath(uploadId), undefined, { ...apiOptions(options), stage: "resume", method: "GET" });
}

/**
 * The multipart uploads remembered in `storage` (default localStorage) that have not
 * completed: `[{ apiBase, kind, name, size, lastModified, uploadId, partCount, startedAt }]`.
 * A page can offer to resume them: the user chooses the same file again.
 */
export function pendingUploads(storage = defaultStorage()) {
  const found = [];
  for (let i = 0; storage && i < storage.length; i++) {
    const name = storage.key(i);
    if (!name?.startsWith(STORAGE_PREFIX)) continue;
    try {
      const [apiBase, kind, fileName, size, lastModified] = JSON.parse(name.slice(STORAGE_PREFIX.length));
      const { uploadId, partCount, startedAt } = JSON.parse(storage.getItem(name));
      found.push({ apiBase, kind, name: fileName, size, lastModified, uploadId, partCount, startedAt });
    } catch {
      // not ours, or damaged: skip it
    }
  }
  return found;
}

/** The remembered upload for this file, if the broker still has it; else a new one. */
async function openSession(file, options) {
  const { storage, kind } = options;
  const remembered = recallSession(storage, file, options);
  if (remembered) {
    try {
      const listed = await listMultipart(remembered.uploadId, options);
      return sessionFrom(listed, file, listed.parts ?? []);
    } catch (error) {
      // Expired, completed, aborted or another principal's: start again.
      if (!(error instanceof UploadError) || error.code !== "upload_not_found") throw error;
      forgetSession(storage, file, options);
    }
  }
  const name = options.filename ?? file?.name ?? "";
  const body = { profile: kind, filename: name, contentType: options.contentType ?? guessContentType(name, file?.type), size: file?.size };
  const digest = await wholeFileSha256(file, options.sha256);
  if (digest) body.sha256 = digest;
  if (options.partChecksums) body.checksumAlgorithm = "SHA256";
  const created = await callApi("/uploads/multipart", body, { ...apiOptions(options), stage: "sign" });
  rememberSession(storage, file, options, { uploadId: created.uploadId, partCount: created.partCount, startedAt: Date.now() });
  return sessionFrom(created, file, []);
}

/**
 * The upload's facts, the parts the store has whose size is right (`done`: number → ETag),
 * and `body(n)`, part n of the file.
 */
function sessionFrom({ uploadId, key, partSize, partCount, checksumAlgorithm }, file, parts) {
  const size = (n) => Math.min(partSize, file.size - (n - 1) * partSize);
  const body = (n) => file.slice((n - 1) * partSize, (n - 1) * partSize + size(n));
  const done = new Map(parts.filter((p) => p.size === size(p.partNumber) && p.etag).map((p) => [p.partNumber, p.etag]));
  return { uploadId, key, partSize, partCount, checksumAlgorithm, size, body, done };
}

/** PUTs every part not in `session.done`, `concurrency` at a time; fills `session.done`. */
async function uploadParts(file, session, options) {
  const { signal, onProgress, onPart, concurrency = 4 } = options;
  const missing = [];
  for (let n = 1; n <= session.partCount; n++) if (!session.done.has(n)) missing.push(n);
  // One failure stops the other parts; the caller's signal stops them all.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) stop.abort();

  let doneBytes = [...session.done.keys()].reduce((sum, n) => sum + session.size(n), 0);
  const inFlight = new Map();
  const report = () => {
    const loaded = doneBytes + [...inFlight.values()].reduce((a, b) => a + b, 0);
    onProgress?.({ loaded, total: file.size, percent: file.size ? Math.min(100, (loaded / file.size) * 100) : 100 });
  };
  report();

  const signer = partSigner(session, missing, options);
  let next = 0;
  const worker = async () => {
    while (next < missing.length) {
      const partNumber = missing[next++];
      const body = session.body(partNumber);
      const etag = await putPart(body, partNumber, signer, {
        signal: stop.signal,
        onProgress: ({ loaded }) => {
          inFlight.set(partNumber, loaded);
          report();
        },
      });
      inFlight.delete(partNumber);
      session.done.set(partNumber, etag);
      doneBytes += body.size;
      report();
      onPart?.({ partNumber, etag, size: body.size, done: session.done.size, partCount: session.partCount });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, missing.length) }, () =>
      worker().catch((error) => {
        stop.abort();
        throw error;
      }),
    ));
  } catch (error) {
    // The first failure is the cause; the others are the parts it stopped.
    throw signal?.aborted ? new UploadError("the upload was paused", { code: "aborted", details: { stage: "upload" }, cause: error }) : error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** One part to the store, with a fresh URL on each retry; resolves to its ETag. */
async function putPart(body, partNumber, signer, { signal, onProgress }) {
  for (let attempt = 1; ; attempt++) {
    const signed = await signer.take(partNumber, signal);
    try {
      const { etag } = await uploadToStore(body, signed, { signal, onProgress });
      if (!etag) {
        throw new UploadError("the store's ETag header is not readable: its CORS rule must expose ETag", {
          code: "unexpected_response",
          details: { stage: "upload", partNumber },
        });
      }
      return etag;
    } catch (error) {
      // checksum_mismatch: the bytes changed on the way (a part signed with its SHA-256).
      const retried = ["network_error", "expired", "checksum_mismatch"];
      const transient = error instanceof UploadError && (retried.includes(error.code) || error.status >= 500);
      if (!transient || attempt >= PART_ATTEMPTS || signal.aborted) throw error;
    }
  }
}

/**
 * Signs part URLs on demand, `SIGN_BATCH` at a time in the order parts are uploaded: the
 * first `take` of a part not signed yet signs it with the next unsigned ones.
 */
function partSigner(session, order, options) {
  const pending = new Map(); // partNumber → Promise<{ url, method, headers, expiresAt }>
  let cursor = 0; // order[..cursor] have been asked for
  const request = (numbers, signal) => {
    const path = `${multipartPath(session.uploadId)}/parts`;
    const reply = signRequest(session, numbers).then((body) => callApi(path, body, { ...apiOptions(options), signal, stage: "sign" }));
    for (const n of numbers) {
      const part = reply.then(({ parts, expiresIn }) => {
        const signed = parts?.find((p) => p.partNumber === n);
        if (!signed?.url) throw new UploadError(`the broker signed no URL for part ${n}`, { code: "unexpected_response", details: { stage: "sign" } });
        return { ...signed, method: signed.method ?? "PUT", expiresAt: Date.now() + expiresIn * 1000 };
      });
      part.catch(() => {}); // a batch that fails is reported by the part that needs it
      pending.set(n, part);
    }
  };
  return {
    async take(partNumber, signal) {
      if (!pending.has(partNumber)) {
        const rest = [];
        while (cursor < order.length && rest.length < SIGN_BATCH - 1) {
          const n = order[cursor++];
          if (n !== partNumber && !pending.has(n)) rest.push(n);
        }
        request([partNumber, ...rest], signal);
      }
      const signed = await pending.get(partNumber);
      pending.delete(partNumber);
      if (signed.expiresAt - Date.now() > EXPIRY_MARGIN_MS) return signed;
      request([partNumber], signal);
      return this.take(partNumber, signal);
    },
  };
}

/**
 * The body of a `…/parts` call: the part numbers and, for an upload created with
 * `checksumAlgorithm: "SHA256"`, each part's SHA-256 in base64 by WebCrypto, one part in
 * memory at a time.
 */
async function signRequest(session, partNumbers) {
  if (session.checksumAlgorithm !== "SHA256") return { partNumbers };
  const checksumSha256 = {};
  for (const n of partNumbers) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await session.body(n).arrayBuffer()));
    checksumSha256[n] = btoa(String.fromCharCode(...digest));
  }
  return { partNumbers, checksumSha256 };
}

function multipartPath(uploadId) {
  return `/uploads/multipart/${encodeURIComponent(uploadId)}`;
}

function apiOptions({ apiBase = "", signal, fetch: customFetch, headers }) {
  return { apiBase, signal, customFetch, headers };
}

function defaultStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled (e.g. a sandboxed frame)
  }
}

/** The storage key of a file's upload: the broker, the kind, and the file's name, size and lastModified. */
function sessionKey(file, { apiBase = "", kind, filename }) {
  return STORAGE_PREFIX + JSON.stringify([apiBase, kind, filename ?? file?.name ?? "", file?.size ?? 0, file?.lastModified ?? 0]);
}

function recallSession(storage, file, options) {
  try {
    const saved = JSON.parse(storage?.getItem(sessionKey(file, options)) ?? "null");
    return typeof saved?.uploadId === "string" ? saved : null;
  } catch {
    return null;
  }
}

function rememberSession(storage, file, options, record) {
  try {
    storage?.setItem(sessionKey(file, options), JSON.stringify(record));
  } catch {
    // full or disabled: the upload still runs, it just cannot resume after a reload
  }
}

function forgetSession(storage, file, options) {
  try {
    storage?.removeItem(sessionKey(file, options));
  } catch {
    // disabled: nothing was kept
  }
}

/**
 * The whole-file digest to send: `sha256` itself when it is a string, or with `true` the
 * SHA-256 of the file by WebCrypto. WebCrypto cannot hash a stream, so this reads the whole
 * file into memory: fine for tens or hundreds of MiB, not for many GiB (hash on the server
 * side of your app instead, or upload without a digest; docs/js-client.md).
 */
async function wholeFileSha256(file, sha256) {
  if (typeof sha256 === "string") return sha256;
  if (sha256 !== true) return undefined;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The content type the broker should sign for this file name. */
export function guessContentType(filename, browserType) {
  const extension = /\.([^./\\]+)$/.exec(filename ?? "")?.[1]?.toLowerCase();
  return (extension && TYPES_BY_EXTENSION[extension]) || browserType || "application/octet-stream";
}

/** A broker call: `POST` with a JSON `body`, or `method` ("GET", "DELETE") without one. */
async function callApi(path, body, { stage, apiBase, signal, customFetch, headers, method = "POST" }) {
  const doFetch = customFetch ?? globalThis.fetch.bind(globalThis);
  const url = `${String(apiBase).replace(/\/+$/, "")}${path}`;
  const json = body === undefined ? {} : { "Content-Type": "application/json" };
  let response;
  try {
    response = await doFetch(url, {
      method,
      headers: { ...headers, ...json, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "same-origin",
    });
  } catch (cause) {
    if (signal?.aborted || cause?.name === "AbortError") {
      throw new UploadError("the request was cancelled", { code: "aborted", details: { stage }, cause });
    }
    throw new UploadError("the upload service could not be reached (network error or CORS refusal)", {
      code: "network_error",
      details: { stage },
      cause,
    });
  }

  let payload = null;
  const text = await response.text().catch(() => "");
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  if (response.ok && payload && typeof payload === "object") return payload;
  const error = payload?.error;
  if (!response.ok && error && typeof error.code === "string") {
    throw new UploadError(error.message || error.code, { code: error.code, status: response.status, details: { stage } });
  }
  throw new UploadError(`unexpected reply from ${path}: HTTP ${response.status}`, {
    code: "unexpected_response",
    status: response.status,
    details: { stage, body: text.slice(0, 500) },
  });
}

/** `<Error><Code>…</Code><Message>…</Message></Error>` → `{ code, message }`. */
export function parseStoreError(xml) {
  const pick = (tag) => {
    const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml ?? "");
    return match ? decodeXml(match[1].trim()) : "";
  };
  return { code: pick("Code"), message: pick("Message") };
}

function decodeXml(text) {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity) => {
    switch (entity) {
      case "lt": return "<";
      case "gt": return ">";
      case "amp": return "&";
      case "quot": return '"';
      case "apos": return "'";
      default:
        return String.fromCodePoint(entity[1] === "x" ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10));
    }
  });
}

function mapStoreError(status, storeCode, storeMessage, maxBytes, fileSize) {
  const said = storeMessage || storeCode || `HTTP ${status}`;
  // AWS and the embedded store say EntityTooLarge; Garage says InvalidRequest
  // "File size does not match policy". The signed limit tells which it was.
  const overLimit = typeof maxBytes === "number" && typeof fileSize === "number" && fileSize > maxBytes;
  if (storeCode === "EntityTooLarge" || (overLimit && status >= 400 && status < 500)) {
    const limit = typeof maxBytes === "number" ? `; the limit is ${maxBytes} bytes` : "";
    return { code: "too_large", message: `the store refused the file as too large${limit}` };
  }
  if (storeCode === "EntityTooSmall") return { code: "empty_file", message: "the store refused the file as empty" };
  // A part signed with its SHA-256 whose bytes have another: AWS and the embedded store say
  // BadDigest, Garage InvalidDigest. The bytes changed on the way; sending them again may work.
  if (storeCode === "BadDigest" || storeCode === "InvalidDigest") {
    return { code: "checksum_mismatch", message: `the store refused bytes that do not match their SHA-256 (${said})` };
  }
  // AWS: "Request has expired"; Garage: "Expiration date is in the past".
  if (/expir/i.test(storeMessage) || /expired/i.test(storeCode)) {
    return { code: "expired", message: `the upload link expired before the file was sent (${said})` };
  }
  return { code: "store_refused", message: `the store refused the upload: ${storeCode ? `${storeCode}: ` : ""}${storeMessage || `HTTP ${status}`}` };
}
