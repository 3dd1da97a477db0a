// Issue 10's "done when", run as a benchmark (scripts/bench-uppy-resume.sh): Uppy 4 with
// `endpoint` pointing at the broker uploads a 1 GiB file in parts to Garage, the page is
// reloaded mid-way, Uppy resumes (Golden Retriever, the same file selected again), and the
// completed object is verified (POST /uploads/complete) and downloaded identical; another
// tenant gets 404 at every multipart route mid-way and after. In the same run, on the same
// Garage and the same file: `curl -T` of the file to a presigned PUT (the baseline, before
// and after), and Uppy without a reload.
//
// Environment: SIZE_MIB (default 1024), STOP_FRACTION (default 0.4: the reload comes once
// that share of the parts is stored), BROKER_BIN (the release broker; the script sets it),
// TESTKIT_GARAGE_BIN, GARAGE_BIN.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";

import { hashDownload, openPage, startUppyStack } from "../harness.js";
import { intruderStatuses, uppyResumeRun } from "../uppy/resume.js";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.SIZE_MIB || 1024) * MiB;
const PART_SIZE = 5 * MiB; // Uppy's choice below 48 GiB, and the Companion routes' part size
const PART_COUNT = Math.ceil(SIZE / PART_SIZE);
const STOP_AFTER = Math.max(1, Math.round(PART_COUNT * Number(process.env.STOP_FRACTION || 0.4)));

const sha256hex = (data) => createHash("sha256").update(data).digest("hex");
const hmac = (key, data) => createHmac("sha256", key).update(data).digest();
const rfc3986 = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** A SigV4 presigned PUT of `key` on Garage (path style, unsigned payload). */
function presignPut({ endpoint, region, bucket, accessKey, secretKey }, key) {
  const url = new URL(`${endpoint.replace(/\/+$/, "")}/${bucket}/${key}`);
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
  const scope = `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
  const query = Object.entries({
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": `${accessKey}/${scope}`,
    "X-Amz-Date": amzDate,
    "X-Amz-Expires": "3600",
    "X-Amz-SignedHeaders": "host",
  })
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .sort()
    .join("&");
  const canonical = ["PUT", url.pathname, query, `host:${url.host}\n`, "host", "UNSIGNED-PAYLOAD"].join("\n");
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonical)].join("\n");
  let signingKey = hmac(`AWS4${secretKey}`, amzDate.slice(0, 8));
  for (const part of [region, "s3", "aws4_request"]) signingKey = hmac(signingKey, part);
  return `${url.origin}${url.pathname}?${query}&X-Amz-Signature=${createHmac("sha256", signingKey).update(toSign).digest("hex")}`;
}

/** `curl -T file url`: resolves to the seconds it took; fails unless the store answers 200. */
function curlPut(file, url) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const curl = spawn("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", file, url]);
    let out = "";
    curl.stdout.on("data", (d) => (out += d));
    curl.on("error", reject);
    curl.on("close", () => (out === "200" ? resolve((performance.now() - started) / 1000) : reject(new Error(`curl -T answered ${out}`))));
  });
}

const rate = (seconds) => `${(SIZE / MiB / seconds).toFixed(0)} MiB/s`;

console.log(`writing a ${SIZE / MiB} MiB CSV (${PART_COUNT} parts of 5 MiB), starting Garage and the broker …`);
const uppyStack = await startUppyStack({ store: "garage", size: SIZE });
try {
  const { stack, sha256, file, acme, globex, uppyPage } = uppyStack;
  const headers = { Authorization: `Bearer ${acme.key}` };

  const baseline = [await curlPut(file, presignPut(stack.garage, "bench/baseline-1.csv"))];
  console.log(`curl -T (baseline): ${baseline[0].toFixed(1)} s (${rate(baseline[0])})`);

  // Uppy without a reload, the same file, the same routes.
  let opened = await openPage(stack.browser, uppyPage);
  const plain = await opened.page.evaluate((o) => window.uppyE2E.uploadWithUppyCompanion(o), {
    apiBase: stack.broker.apiOrigin, headers, fileUrl: "/big/big.csv", name: "big.csv", type: "text/csv", kind: "document", timeoutMs: 900_000,
  });
  await opened.context.close();
  assert.equal(plain.completion?.status, 200, JSON.stringify({ ...plain, parts: plain.parts.length }));
  assert.equal(plain.completion.body.sha256, sha256);
  console.log(`Uppy, no reload: ${plain.seconds.toFixed(1)} s to CompleteMultipartUpload, /uploads/complete ${plain.completionSeconds.toFixed(1)} s`);

  // Uppy with a reload mid-way.
  opened = await openPage(stack.browser, uppyPage);
  const run = await uppyResumeRun(stack, opened.page, {
    key: acme.key,
    fileUrl: "/big/big.csv",
    stopAfterParts: STOP_AFTER,
    midway: (ids) => intruderStatuses(stack.broker.apiOrigin, globex.key, ids),
  });
  const { first, second, listed, putsBefore, putsAfter, midway } = run;
  await opened.context.close();
  const summary = JSON.stringify({ first: { ...first, parts: first.parts.length }, second: { ...second, parts: second.parts.length }, listed: listed?.length, putsBefore: putsBefore.length, putsAfter: putsAfter.length, midway }).slice(0, 3000);
  assert.equal(second.completion?.status, 200, summary);
  assert.equal(second.uploadId, first.uploadId, summary);
  assert.equal(run.creates, 1, summary);
  const missing = Array.from({ length: PART_COUNT }, (_, i) => i + 1).filter((n) => !listed.includes(n));
  assert.deepEqual([...putsAfter].sort((a, b) => a - b), missing, summary);
  assert.ok(putsAfter.length < PART_COUNT, summary);
  const done = second.completion.body;
  assert.deepEqual([done.size, done.sha256], [SIZE, sha256], summary);
  const link = await fetch(`${stack.broker.apiOrigin}/uploads/download`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({ objectKey: done.objectKey }),
  }).then((r) => r.json());
  assert.deepEqual(await hashDownload(link.url), { status: 200, size: SIZE, sha256 }, "the download is the file");
  const afterwards = await intruderStatuses(stack.broker.apiOrigin, globex.key, { uploadId: first.uploadId, key: first.key });
  for (const statuses of [midway, afterwards]) for (const [route, status] of Object.entries(statuses)) assert.equal(status, 404, `another tenant: ${route}`);

  baseline.push(await curlPut(file, presignPut(stack.garage, "bench/baseline-2.csv")));
  const plainPut = (baseline[0] + baseline[1]) / 2;
  const resumed = first.seconds + second.seconds;
  console.log(`curl -T (baseline, again): ${baseline[1].toFixed(1)} s (${rate(baseline[1])}); mean ${plainPut.toFixed(1)} s`);
  console.log(`Uppy with a reload: ${first.seconds.toFixed(1)} s before the reload (${first.parts.length} parts reported, ${putsBefore.length} stored), ` +
    `${second.seconds.toFixed(1)} s after it (listed ${listed.length}, uploaded ${putsAfter.length} of ${PART_COUNT}, CompleteMultipartUpload included), ` +
    `/uploads/complete ${second.completionSeconds.toFixed(1)} s`);
  console.log(`another tenant: 404 at ${Object.keys(midway).length} multipart routes mid-way and after`);
  console.log("\n| run | time | throughput | vs curl -T |\n|---|---|---|---|");
  console.log(`| curl -T presigned PUT (mean of 2) | ${plainPut.toFixed(1)} s | ${rate(plainPut)} | 1.00× |`);
  console.log(`| Uppy, no reload (to CompleteMultipartUpload) | ${plain.seconds.toFixed(1)} s | ${rate(plain.seconds)} | ${(plainPut / plain.seconds).toFixed(2)}× |`);
  console.log(`| Uppy, reload at ${putsBefore.length}/${PART_COUNT} parts (both pages, to CompleteMultipartUpload) | ${resumed.toFixed(1)} s | ${rate(resumed)} | ${(plainPut / resumed).toFixed(2)}× |`);
  console.log(`| /uploads/complete after the resume (verify + promote) | ${second.completionSeconds.toFixed(1)} s | | |`);
} finally {
  await uppyStack.close();
}
