// Demo page: sign → upload straight to the store → complete, with human error messages.
// Large files go up in parts (above ?multipartThreshold, or when the broker answers
// `multipart_required`), with progress across parts, Pause (the upload stays resumable:
// after a reload, choosing the same file again uploads only the missing parts) and Cancel
// (the broker aborts the multipart upload).
//
// Query parameters:
//   ?api=http://host:port   the broker's origin (default: this page's origin). Anyone can
//                           craft a link, so only a trusted origin is used: this page's own,
//                           one listed in <meta name="broker-api-origins"> (index.html), or,
//                           for development, a loopback API when this page is on loopback.
//   ?delayUploadMs=N        test hook: wait N ms between signing and uploading
//   ?declareSize=0          test hook: do not declare the size when signing, so the
//                           store itself enforces the limit
//   ?multipartThreshold=N   bytes above which the page uploads in parts without asking
//                           (default: the broker's default, 100 MiB)
import {
  DEFAULT_MULTIPART_THRESHOLD,
  UploadError,
  abortMultipart,
  complete,
  pendingUploads,
  sign,
  uploadMultipart,
  uploadToStore,
} from "./upload-broker.js";

const params = new URLSearchParams(location.search);
const api = trustedApi(params.get("api"));
const apiBase = api.base;
const delayUploadMs = Math.max(0, Number(params.get("delayUploadMs")) || 0);
const declareSize = params.get("declareSize") !== "0";
const multipartThreshold = Number(params.get("multipartThreshold")) || DEFAULT_MULTIPART_THRESHOLD;

const ACCEPT = {
  avatar: ".jpg,.jpeg,.png,.webp,image/jpeg,image/png,image/webp",
  file: ".csv,.json,.pdf,.zip,text/csv,application/json,application/pdf,application/zip",
  document: ".csv,.json,.pdf,.zip,text/csv,application/json,application/pdf,application/zip",
};

const REMOVED_LABELS = {
  exif: "EXIF (camera details)",
  gps: "GPS location",
  xmp: "XMP",
  iptc: "IPTC",
  comment: "comments",
  thumbnail: "embedded thumbnail",
  icc: "colour profile",
  timestamp: "timestamps",
};

function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** `{ base }` for a broker this page may talk to, or `{ refused }` naming the origin it will not. */
function trustedApi(requested) {
  if (!requested) return { base: location.origin };
  let url;
  try {
    url = new URL(requested);
  } catch {
    return { refused: requested };
  }
  const configured = (document.querySelector('meta[name="broker-api-origins"]')?.content ?? "")
    .split(/[\s,]+/)
    .filter(Boolean);
  const trusted =
    (url.protocol === "http:" || url.protocol === "https:") &&
    (url.origin === location.origin ||
      configured.includes(url.origin) ||
      (isLoopback(location.hostname) && isLoopback(url.hostname)));
  return trusted ? { base: `${url.origin}${url.pathname}`.replace(/\/+$/, "") } : { refused: url.origin };
}

/** `raw` as an absolute http(s) URL, or null: a reply must not turn a link into script. */
function webUrl(raw) {
  try {
    const url = new URL(raw, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

const $ = (id) => document.getElementById(id);
const form = $("upload-form");
const fileInput = $("file-input");
const uploadButton = $("upload-button");
const pauseButton = $("pause-button");
const cancelButton = $("cancel-button");
let controller = null;
/** What the user asked of a running multipart upload: null, "pause" or "cancel". */
let intent = null;

function selectedKind() {
  return form.querySelector('input[name="kind"]:checked')?.value ?? "avatar";
}

function setState(state) {
  document.body.dataset.state = state;
}

function formatBytes(bytes) {
  if (typeof bytes !== "number" || !Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, "")} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, "")} MiB`;
}

function limitFor(kind) {
  return { file: "25 MiB", document: "5 GiB" }[kind] ?? "2 MiB";
}

function setStatus(text, percent) {
  $("progress-section").hidden = false;
  $("status").textContent = text;
  if (typeof percent === "number") {
    $("progress").value = percent;
    $("progress-percent").textContent = `${Math.round(percent)}%`;
  }
}

function resetOutput() {
  $("error").hidden = true;
  $("result").hidden = true;
  $("avatar-result").hidden = true;
  $("file-result").hidden = true;
  $("removed-list").replaceChildren();
  $("avatar-image").removeAttribute("src");
  for (const key of ["code", "stage", "storeCode", "status"]) delete $("error").dataset[key];
  $("progress").value = 0;
  $("progress-percent").textContent = "0%";
  $("parts").textContent = "";
}

/** The failures whose words never change: { title, text }. */
const MESSAGES = {
  empty_file: { title: "Empty file", text: "This file is empty. Choose a file that has content." },
  extension_mismatch: { title: "Wrong file type", text: "The file name's extension does not match its type. Rename the file with the right extension (for example .jpg for a JPEG)." },
  invalid_filename: { title: "Unusable file name", text: "The file name is empty, too long or contains control characters. Rename the file and try again." },
  unknown_kind: { title: "Unknown upload type", text: "This kind of upload is not offered. Choose Avatar, File or Document." },
  expired: { title: "Link expired", text: "The upload link expired before the file was sent. Please try again." },
  store_refused: { title: "Storage refused the upload", text: "The storage service did not accept the file. Please try again; if it keeps happening, contact support." },
  network_error: { title: "Connection problem", text: "We could not reach the upload service. Check your connection and try again." },
  aborted: { title: "Upload cancelled", text: "The upload was cancelled. Nothing was saved." },
  store_unavailable: { title: "Storage unavailable", text: "Storage is temporarily unavailable. Please try again in a moment." },
  untrusted_api: { title: "Untrusted upload service", text: "This page's link names an upload service it does not trust, so nothing will be sent. Open the page from its own address." },
};

/** Why verification refused a file, by code. */
const REFUSALS = {
  type_mismatch: "its content is not the type its name says.",
  not_an_image: "it is not a readable image.",
  dimensions_too_large: "the image is too large in pixels. Resize it and try again.",
  corrupt_file: "it is damaged or truncated.",
  unsafe_content: "it contains content we do not accept (for example scripts in a PDF, or a zip bomb).",
  not_signed_for_profile: "it is not what the upload link was issued for.",
  checksum_mismatch: "its bytes do not match the checksum sent with it: it changed on the way.",
};

/** Human words for a failure: { title, text }. */
function describe(error, { kind, file }) {
  const code = error instanceof UploadError ? error.code : "unexpected";
  const stage = error?.details?.stage;
  const limit = error?.details?.maxBytes ? formatBytes(error.details.maxBytes) : limitFor(kind);
  const fileSize = file ? ` (this file is ${formatBytes(file.size)})` : "";
  const refused = (reason) => ({ title: "Verification refused", text: `The file was uploaded but failed our checks: ${reason}` });
  if (Object.hasOwn(MESSAGES, code)) return MESSAGES[code];
  if (Object.hasOwn(REFUSALS, code)) return refused(REFUSALS[code]);
  switch (code) {
    case "too_large":
      if (stage === "complete") return refused(`it is larger than the ${limit} allowed.`);
      return { title: "File too large", text: `This file is too large. ${kind === "avatar" ? "Avatars" : "Files"} can be at most ${limit}${fileSize}.` };
    case "unsupported_type":
      return {
        title: "Wrong file type",
        text: kind !== "avatar"
          ? "Files must be CSV, JSON, PDF or ZIP."
          : "Avatars must be JPEG, PNG or WebP images.",
      };
    case "not_found":
      return stage === "complete"
        ? { title: "Upload not found", text: "The file never arrived in storage, so it could not be checked. Please upload it again." }
        : { title: "Not found", text: "The upload service does not know this address. Check the API setting." };
    default:
      return { title: "Something went wrong", text: "The upload failed because of a problem on our side. Please try again later." };
  }
}

function showError(error, context) {
  const { title, text } = describe(error, context);
  const box = $("error");
  $("error-title").textContent = title;
  $("error-text").textContent = text;
  const store = error?.details?.storeCode ? ` [store: ${error.details.storeCode}]` : "";
  $("error-detail").textContent = error?.message ? `Details: ${error.message}${store}` : "";
  box.dataset.code = error?.code ?? "unexpected";
  if (error?.details?.stage) box.dataset.stage = error.details.stage;
  if (error?.details?.storeCode) box.dataset.storeCode = error.details.storeCode;
  box.dataset.status = String(error?.status ?? 0);
  box.hidden = false;
  setStatus(`Failed: ${title.toLowerCase()}.`);
  setState("error");
}

function showResult(result, kind) {
  $("result-filename").textContent = result.filename ?? "";
  $("result-type").textContent = result.contentType ?? "";
  $("result-size").textContent = formatBytes(result.size);
  $("result-sha256").textContent = result.sha256 ?? "";
  $("result-key").textContent = result.objectKey ?? "";
  $("result").dataset.objectKey = result.objectKey ?? "";
  if (kind === "avatar") {
    $("result-title").textContent = "Avatar verified";
    const removed = Array.isArray(result.removed) ? result.removed : [];
    const items = removed.length
      ? removed.map((name) => {
          const li = document.createElement("li");
          li.dataset.removed = name;
          li.textContent = REMOVED_LABELS[name] ?? name;
          return li;
        })
      : [Object.assign(document.createElement("li"), { textContent: "nothing: the image had no metadata" })];
    $("removed-list").replaceChildren(...items);
    const src = webUrl(result.url);
    if (src) $("avatar-image").src = src;
    $("avatar-result").hidden = false;
  } else {
    $("result-title").textContent = kind === "document" ? "Document verified" : "File verified";
    const link = $("download-link");
    const href = webUrl(result.url);
    if (href) {
      link.href = href;
      link.textContent = `Download ${result.filename || "file"}`;
    } else {
      link.removeAttribute("href");
      link.textContent = "No download link: the reply's URL is not an http(s) address.";
    }
    $("file-result").hidden = false;
  }
  $("result").hidden = false;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new UploadError("the upload was cancelled", { code: "aborted", details: { stage: "upload" } }));
    }, { once: true });
  });
}

/** Sign, upload and complete in one request; null when the broker wants parts instead. */
async function uploadInOne(file, options) {
  setState("signing");
  setStatus("Requesting an upload link…", 0);
  let signed;
  try {
    signed = await sign(file, options);
  } catch (error) {
    if (error instanceof UploadError && error.code === "multipart_required") return null;
    throw error;
  }
  if (delayUploadMs) await sleep(delayUploadMs, options.signal);

  setState("uploading");
  setStatus(`Uploading ${file.name}…`, 0);
  await uploadToStore(file, signed, {
    signal: options.signal,
    onProgress: ({ percent, loaded, total }) =>
      setStatus(`Uploading ${file.name}… ${formatBytes(loaded)} of ${formatBytes(total)}`, percent),
  });
  setState("verifying");
  setStatus("Uploaded. Verifying the file…", 100);
  return complete(signed.objectKey, options);
}

/** Upload in parts: resumes a remembered upload of the same file. */
async function uploadInParts(file, options) {
  setState("uploading");
  setStatus(`Starting ${file.name} in parts…`, 0);
  pauseButton.hidden = false;
  pauseButton.disabled = false;
  const showParts = (done, partCount) => {
    $("parts").textContent = `${done} of ${partCount} parts stored`;
    document.body.dataset.partsDone = String(done);
  };
  return uploadMultipart(file, {
    ...options,
    onSession: ({ partCount, uploaded }) => {
      document.body.dataset.resumedParts = String(uploaded.length);
      showParts(uploaded.length, partCount);
    },
    onPart: ({ done, partCount }) => showParts(done, partCount),
    onProgress: ({ percent, loaded, total }) =>
      setStatus(`Uploading ${file.name} in parts… ${formatBytes(loaded)} of ${formatBytes(total)}`, percent),
    onStage: (stage) => {
      if (stage !== "complete") return;
      pauseButton.hidden = true;
      setState("verifying");
      setStatus("Uploaded. Verifying the file…", 100);
    },
  });
}

async function run(file, kind) {
  controller = new AbortController();
  intent = null;
  const { signal } = controller;
  const options = { kind, apiBase, signal, declareSize };
  resetOutput();
  uploadButton.disabled = true;
  cancelButton.hidden = false;
  try {
    const result = (file.size > multipartThreshold ? null : await uploadInOne(file, options)) ?? (await uploadInParts(file, options));
    showResult(result, kind);
    setStatus("Done: the file is verified and stored.", 100);
    setState("done");
  } catch (error) {
    if (error?.details?.resumable && intent === "pause") {
      setStatus(`Paused. Choose ${file.name} again and press Upload to continue.`);
      setState("paused");
    } else {
      // A cancelled multipart upload is aborted on the broker too, so the store drops its parts.
      if (error?.details?.resumable) await abortMultipart(file, { kind, apiBase }).catch((e) => console.warn("abort failed", e));
      console.warn("upload failed", error);
      showError(error, { kind, file });
    }
  } finally {
    controller = null;
    pauseButton.hidden = true;
    cancelButton.hidden = true;
    uploadButton.disabled = !fileInput.files?.length;
    showPending();
  }
}

/** Lists the unfinished multipart uploads of this broker that this browser remembers. */
function showPending() {
  const pending = pendingUploads().filter((p) => p.apiBase === apiBase);
  $("pending-list").replaceChildren(
    ...pending.map((p) => {
      const li = document.createElement("li");
      li.dataset.uploadId = p.uploadId;
      li.textContent = `${p.name} (${formatBytes(p.size)}, ${p.kind})`;
      return li;
    }),
  );
  $("pending").hidden = pending.length === 0;
}

form.addEventListener("change", (event) => {
  if (event.target.name === "kind") fileInput.accept = ACCEPT[selectedKind()];
  uploadButton.disabled = !fileInput.files?.length || controller !== null;
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = fileInput.files?.[0];
  if (!file || controller) return;
  run(file, selectedKind());
});

pauseButton.addEventListener("click", () => {
  intent = "pause";
  pauseButton.disabled = true;
  controller?.abort();
});
cancelButton.addEventListener("click", () => {
  intent = "cancel";
  controller?.abort();
});

fileInput.accept = ACCEPT[selectedKind()];
uploadButton.disabled = !fileInput.files?.length;
if (api.refused) {
  showError(new UploadError(`?api=${api.refused} is not a trusted origin for this page`, { code: "untrusted_api" }), {});
  uploadButton.disabled = true;
  fileInput.disabled = true;
} else {
  setState("idle");
  showPending();
}
document.documentElement.dataset.ready = "1";
