// The Node side of Uppy's resume-after-reload flow (e2e/uppy/entry.js `startResumableUppy`
// and `resumeUppy`), shared by e2e/tests/uppy-resume.test.js and the 1 GiB benchmark
// e2e/bench/uppy-resume.js: start an upload in the page, reload the page mid-way, resume,
// and record what went over the network on each side of the reload.

const MULTIPART_ROUTES = [
  ["GET", (id, key) => `/s3/multipart/${id}?key=${key}`],
  ["GET", (id, key) => `/s3/multipart/${id}/1?key=${key}`],
  ["POST", (id, key) => `/s3/multipart/${id}/complete?key=${key}`, { parts: [{ PartNumber: 1, ETag: "x" }] }],
  ["DELETE", (id, key) => `/s3/multipart/${id}?key=${key}`],
  ["GET", (id) => `/uploads/multipart/${id}`],
  ["POST", (id) => `/uploads/multipart/${id}/parts`, { partNumbers: [1] }],
  ["POST", (id) => `/uploads/multipart/${id}/complete`, { parts: [{ partNumber: 1, etag: "x" }] }],
  ["DELETE", (id) => `/uploads/multipart/${id}`],
];

/**
 * Every multipart route (Companion's and the broker's own) called on `{ uploadId, key }`
 * with `apiKey`'s credential: resolves to `{ "METHOD path": status }`, the path with
 * `{id}` in place of the upload id. Another principal must get 404 everywhere.
 */
export async function intruderStatuses(apiOrigin, apiKey, { uploadId, key }) {
  const statuses = {};
  for (const [method, route, body] of MULTIPART_ROUTES) {
    const id = encodeURIComponent(uploadId);
    const response = await fetch(`${apiOrigin}${route(id, encodeURIComponent(key))}`, {
      method,
      headers: { Authorization: `Bearer ${apiKey}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    await response.arrayBuffer();
    statuses[`${method} ${route("{id}", "{key}")}`] = response.status;
  }
  return statuses;
}

/**
 * Runs the flow in `page` (the Uppy bundle's index.html): `startResumableUppy` until
 * `stopAfterParts` parts are stored, a reload, `midway({ uploadId, key })` if given, then
 * `resumeUppy`. `throttle` (bytes/s) slows the page's uploads before the reload, so it comes
 * while parts are on their way. Resolves to `{ first, second, listed, putsBefore, putsAfter,
 * creates, midway }`: the parts PUT (and stored) by requests
 * started before and after the reload, and the part numbers the resume's listing answered.
 */
export async function uppyResumeRun(stack, page, { key, fileUrl, name = "big.csv", type = "text/csv", kind = "document", stopAfterParts, throttle, midway }) {
  const apiOrigin = stack.broker.apiOrigin;
  const options = { apiBase: apiOrigin, headers: { Authorization: `Bearer ${key}` }, fileUrl, name, type, kind, lastModified: 1_700_000_000_000 };
  let phase = "before";
  const puts = { before: [], after: [] };
  let creates = 0;
  let listing = null;
  const started = new WeakMap();
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (request.method() === "PUT" && url.searchParams.has("partNumber")) started.set(request, phase);
    if (url.origin === apiOrigin && request.method() === "POST" && url.pathname === "/s3/multipart") creates++;
  });
  page.on("requestfinished", async (request) => {
    const url = new URL(request.url());
    const response = await request.response();
    if (started.has(request) && response?.status() === 200) puts[started.get(request)].push(Number(url.searchParams.get("partNumber")));
    if (url.origin === apiOrigin && request.method() === "GET" && /^\/s3\/multipart\/[^/]+$/.test(url.pathname)) {
      listing = response?.json().then((parts) => parts.map((p) => p.PartNumber));
    }
  });

  const cdp = await page.context().newCDPSession(page);
  if (throttle) await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: throttle });
  const first = await page.evaluate((o) => window.uppyE2E.startResumableUppy(o), { ...options, stopAfterParts });
  phase = "after";
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
  if (throttle) await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const midwayResult = midway && first.uploadId ? await midway({ uploadId: first.uploadId, key: first.key }) : null;
  const second = await page.evaluate((o) => window.uppyE2E.resumeUppy(o), options);
  return {
    first,
    second,
    listed: listing ? await listing : null,
    putsBefore: puts.before,
    putsAfter: puts.after,
    creates,
    midway: midwayResult,
  };
}
