// upload-broker.js: a small, dependency-free browser client for the upload broker.
//
//   sign → upload straight to the store (presigned POST or PUT, XHR for progress) → complete
//
// The store is reached by a presigned POST form or, for stores without POST Object
// (R2, B2; `S3_UPLOAD_MODE=put`), a presigned PUT: the sign reply says which.
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
 */
export async function uploadFile(file, options = {}) {
  const { onStage } = options;
  onStage?.("sign");
  const signed = await sign(file, options);
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
export async function sign(file, { kind, apiBase = "", signal, fetch: customFetch, headers, filename, contentType, declareSize = true } = {}) {
  const name = filename ?? file?.name ?? "";
  const body = { kind, filename: name, content_type: contentType ?? guessContentType(name, file?.type) };
  if (declareSize && typeof file?.size === "number") body.size = file.size;
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

/** The content type the broker should sign for this file name. */
export function guessContentType(filename, browserType) {
  const extension = /\.([^./\\]+)$/.exec(filename ?? "")?.[1]?.toLowerCase();
  return (extension && TYPES_BY_EXTENSION[extension]) || browserType || "application/octet-stream";
}

async function callApi(path, body, { stage, apiBase, signal, customFetch, headers }) {
  const doFetch = customFetch ?? globalThis.fetch.bind(globalThis);
  const url = `${String(apiBase).replace(/\/+$/, "")}${path}`;
  let response;
  try {
    response = await doFetch(url, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
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
  // AWS: "Request has expired"; Garage: "Expiration date is in the past".
  if (/expir/i.test(storeMessage) || /expired/i.test(storeCode)) {
    return { code: "expired", message: `the upload link expired before the file was sent (${said})` };
  }
  return { code: "store_refused", message: `the store refused the upload: ${storeCode ? `${storeCode}: ` : ""}${storeMessage || `HTTP ${status}`}` };
}
