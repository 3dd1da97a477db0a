// Uppy 4 unchanged resumes a multipart upload after the page is reloaded mid-way, through the
// broker's Companion-compatible routes, on the embedded store and on a real Garage: the
// page set up as a user would (@uppy/aws-s3 with `endpoint` and `headers`, plus
// @uppy/golden-retriever, Uppy's plugin for surviving a reload), a 60 MiB CSV in 12 parts
// of 5 MiB, a reload once a few parts are stored, then the user selects the same file again
// and presses Upload: Uppy lists the stored parts, uploads only the missing ones and
// completes; the page calls POST /uploads/complete; Node downloads the object and compares
// its SHA-256. Another tenant gets 404 at every multipart route, mid-way and after.
//
// scripts/bench-uppy-resume.sh runs the same flow with a 1 GiB file on Garage as a benchmark
// (e2e/bench/uppy-resume.js).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { hashDownload, openPage, useUppyStack } from "../harness.js";
import { intruderStatuses, uppyResumeRun } from "../uppy/resume.js";

const TIMEOUT = 300_000;
const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB; // Uppy's own choice for this size, and the Companion routes' part size
const FILE_SIZE = 60 * MiB - 4321;
const PART_COUNT = Math.ceil(FILE_SIZE / PART_SIZE);

for (const store of ["embedded", "garage"]) {
  describe(`Uppy 4 resumes a multipart upload after a reload (Golden Retriever, Companion routes), ${store} store`, { timeout: 2 * TIMEOUT }, () => {
    const uppyStack = useUppyStack({ store, size: FILE_SIZE });

    test(`a ${PART_COUNT}-part upload survives a reload: only the missing parts go up after it, and the object verifies and downloads identical`, { timeout: TIMEOUT }, async (t) => {
      const { stack, sha256, acme, globex, uppyPage } = uppyStack;
      const { page, context, problems } = await openPage(stack.browser, uppyPage);
      try {
        // Slow the upload so that the reload comes while parts are still on their way.
        const run = await uppyResumeRun(stack, page, {
          key: acme.key,
          fileUrl: "/big/big.csv",
          stopAfterParts: 3,
          throttle: 12 * MiB,
          midway: (ids) => intruderStatuses(stack.broker.apiOrigin, globex.key, ids),
        });
        const { first, second, listed, putsBefore, putsAfter, midway } = run;
        t.diagnostic(`${store}: ${putsBefore.length} parts stored before the reload, ${listed?.length} listed after it, ${putsAfter.length} of ${PART_COUNT} uploaded after it`);
        const why = (extra = "") =>
          `${extra}\n${JSON.stringify({ first, second: { ...second, completion: second.completion?.status }, listed, putsBefore, putsAfter }).slice(0, 4000)}\npage problems: ${problems.join("\n") || "none"}\n${stack.logs()}`;

        assert.deepEqual(first.errors, [], why("the first page uploads without error"));
        assert.ok(first.uploadId && first.key, why("Uppy created the upload"));
        assert.match(first.key, /^staging\/acme\//, why("in the caller's tenant"));
        assert.equal(first.versions.goldenRetriever, "4.2.3");

        // Mid-way, another tenant cannot list, sign, complete or abort the upload.
        for (const [route, status] of Object.entries(midway)) assert.equal(status, 404, why(`another tenant: ${route}`));

        // After the reload Golden Retriever brought the file back (a ghost: 60 MiB is over its
        // IndexedDB limit) with its upload id, and the resume is the same upload.
        assert.deepEqual(second.restored, [{ name: "big.csv", isGhost: true, s3Multipart: { key: first.key, uploadId: first.uploadId } }], why("restored"));
        assert.equal(second.timedOut, false, why("the resume settled"));
        assert.deepEqual(second.uploadErrors, [], why());
        assert.deepEqual(second.result, { successful: ["big.csv"], failed: [] }, why());
        assert.equal(second.uploadId, first.uploadId, why("the same upload id"));
        assert.equal(run.creates, 1, why("one create in all: the resume creates nothing"));

        // Only the parts the store did not list were uploaded after the reload, each once.
        assert.ok(listed, why("Uppy listed the stored parts after the reload"));
        for (const n of first.parts) assert.ok(listed.includes(n), why(`part ${n}, stored before the reload, is listed`));
        const missing = Array.from({ length: PART_COUNT }, (_, i) => i + 1).filter((n) => !listed.includes(n));
        assert.deepEqual([...putsAfter].sort((a, b) => a - b), missing, why("after the reload, only the missing parts"));
        assert.ok(putsAfter.length < PART_COUNT && putsAfter.length > 0, why("fewer parts after the reload than in all"));

        assert.equal(second.completion?.status, 200, why("POST /uploads/complete verifies what Uppy assembled"));
        const done = second.completion.body;
        assert.deepEqual([done.size, done.sha256, done.filename], [FILE_SIZE, sha256, "big.csv"], why());
        const link = await fetch(`${stack.broker.apiOrigin}/uploads/download`, {
          method: "POST",
          headers: { Authorization: `Bearer ${acme.key}`, "Content-Type": "application/json" },
          body: JSON.stringify({ objectKey: done.objectKey }),
        }).then((r) => r.json());
        assert.deepEqual(await hashDownload(link.url), { status: 200, size: FILE_SIZE, sha256 }, "the stored object is the file");

        // Completed: the upload is gone for its owner too, and another tenant still gets 404.
        const afterwards = await intruderStatuses(stack.broker.apiOrigin, globex.key, { uploadId: first.uploadId, key: first.key });
        for (const [route, status] of Object.entries(afterwards)) assert.equal(status, 404, why(`another tenant, after: ${route}`));
        // The reload aborts the parts in flight; Chromium may log those as failed loads.
        assert.deepEqual(problems.filter((p) => !/ERR_ABORTED|net::/.test(p)), [], why("no console errors"));
      } finally {
        await context.close();
      }
    });
  });
}
