// Uppy 4 unchanged, multipart through the broker's Companion-compatible routes: @uppy/aws-s3
// with `endpoint` set to the broker and `headers` carrying an API key uploads a 200 MiB CSV
// in parts (POST /s3/multipart, GET /s3/multipart/{uploadId}/{partNumber}, POST
// /s3/multipart/{uploadId}/complete), straight to the store, in headless Chromium, on the
// embedded store and on a real Garage. Then the page calls POST /uploads/complete, which
// verifies and promotes the object, and Node downloads it and checks its size and SHA-256.
//
// The file is written by Node into a temp dir that the page server mounts at /big/ (a CSV
// is the easiest valid document to make big).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { hashDownload, openPage, useUppyStack } from "../harness.js";

const TIMEOUT = 300_000;
const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB; // Uppy's own choice for this size, and the Companion routes' part size
const FILE_SIZE = 200 * MiB;
const PART_COUNT = Math.ceil(FILE_SIZE / PART_SIZE);

for (const store of ["embedded", "garage"]) {
  describe(`Uppy 4 multipart through the broker's Companion routes (endpoint + headers), ${store} store`, { timeout: 2 * TIMEOUT }, () => {
    const uppyStack = useUppyStack({ store, size: FILE_SIZE });

    test(`a ${FILE_SIZE / MiB} MiB CSV uploads in ${PART_COUNT} parts, completes, verifies and downloads identical`, { timeout: TIMEOUT }, async (t) => {
      const { stack, sha256, acme, globex, uppyPage } = uppyStack;
      const { page, context, problems } = await openPage(stack.browser, uppyPage);
      try {
        // Every call Uppy and the page make to the broker (preflights aside).
        const calls = [];
        page.on("request", (request) => {
          const url = new URL(request.url());
          if (url.origin !== stack.broker.apiOrigin || request.method() === "OPTIONS") return;
          calls.push({ method: request.method(), path: url.pathname, key: url.searchParams.get("key"), auth: request.headers().authorization ?? null });
        });
        const started = Date.now();
        const record = await page.evaluate((options) => window.uppyE2E.uploadWithUppyCompanion(options), {
          apiBase: stack.broker.apiOrigin,
          headers: { Authorization: `Bearer ${acme.key}` },
          fileUrl: "/big/big.csv",
          name: "big.csv",
          type: "text/csv",
          kind: "document",
        });
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const why = (extra = "") =>
          `${extra}\nUppy record: ${JSON.stringify({ ...record, parts: record.parts.length }, null, 1).slice(0, 4000)}\ncalls: ${JSON.stringify(calls.slice(0, 40))}\npage problems: ${problems.join("\n") || "none"}\n${stack.logs()}`;
        t.diagnostic(`${store}: Uppy uploaded and the broker completed ${FILE_SIZE / MiB} MiB in ${seconds} s`);

        assert.equal(record.size, FILE_SIZE, why("the page read the whole file"));
        assert.equal(record.timedOut, false, why("Uppy's upload() did not settle"));
        assert.equal(record.rejected, null, why("Uppy's upload() rejected"));
        assert.deepEqual(record.uploadErrors, [], why("no upload-error"));
        assert.deepEqual(record.result, { successful: ["big.csv"], failed: [] }, why());
        assert.deepEqual([...record.parts].sort((a, b) => a - b), Array.from({ length: PART_COUNT }, (_, i) => i + 1), why("every part once"));
        assert.match(record.key ?? "", /staging\/acme\//, why("the broker made a staging key in the caller's tenant"));

        // Uppy used the Companion routes, with the credential on every call.
        const uploadId = calls.map((c) => /^\/s3\/multipart\/([^/]+)\/\d+$/.exec(c.path)?.[1]).find(Boolean);
        assert.ok(uploadId, why("Uppy signed parts under an uploadId"));
        const routes = calls.map((c) => `${c.method} ${c.path.replace(uploadId, "{id}").replace(/\/\d+$/, "/{n}")}`);
        const count = (route) => routes.filter((r) => r === route).length;
        assert.equal(count("POST /s3/multipart"), 1, why("one create"));
        const signed = new Set(calls.map((c) => /^\/s3\/multipart\/[^/]+\/(\d+)$/.exec(c.path)?.[1]).filter(Boolean).map(Number));
        assert.deepEqual([...signed].sort((a, b) => a - b), Array.from({ length: PART_COUNT }, (_, i) => i + 1), why("a signature for every part"));
        assert.equal(count("POST /s3/multipart/{id}/complete"), 1, why("one complete"));
        assert.equal(count("POST /uploads/complete"), 1, why("then the verification"));
        assert.equal(routes.filter((r) => r.includes("/uploads/sign") || r.includes("/s3/params")).length, 0, why("no single-request signing"));
        for (const call of calls) assert.equal(call.auth, `Bearer ${acme.key}`, why(`${call.method} ${call.path} carries the headers option`));
        for (const call of calls.filter((c) => c.path.startsWith("/s3/multipart/"))) assert.equal(call.key, record.key, why("with the key"));

        assert.equal(record.completion?.status, 200, why("POST /uploads/complete verifies the object Uppy assembled"));
        const done = record.completion.body;
        assert.equal(done.size, FILE_SIZE, why());
        assert.equal(done.sha256, sha256, why("the broker hashed the bytes that were sent"));
        assert.equal(done.contentType, "text/csv", why());
        assert.equal(done.filename, "big.csv", why());
        assert.match(done.objectKey, /^(.*\/)?acme\//, why("served under the caller's tenant"));
        assert.doesNotMatch(done.objectKey, /staging/, why());

        const download = async (key) => {
          const response = await fetch(`${stack.broker.apiOrigin}/uploads/download`, {
            method: "POST",
            headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
            body: JSON.stringify({ objectKey: done.objectKey }),
          });
          return { status: response.status, body: await response.json() };
        };
        const link = await download(acme.key);
        assert.equal(link.status, 200, JSON.stringify(link.body));
        assert.deepEqual(await hashDownload(link.body.url), { status: 200, size: FILE_SIZE, sha256 }, "the stored object is the file");
        const other = await download(globex.key);
        assert.notEqual(other.status, 200, `another tenant gets no link: ${JSON.stringify(other.body)}`);
        assert.deepEqual(problems, [], why("no console errors (Uppy logs one when it cannot read a part's ETag)"));
      } finally {
        await context.close();
      }
    });
  });
}
