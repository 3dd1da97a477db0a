// Large files through our own JS client (web/upload-broker.js) and the demo page, in headless
// Chromium, on the embedded store and on a real Garage: a multipart upload that is stopped
// after a few parts, survives a reload and resumes with only the missing parts; an abort that
// removes the upload; and the demo page's Document picker with progress, Pause and resume.
//
// The broker runs with 5 MiB parts (the S3 minimum) and a 10 MiB multipart threshold, so a
// 40 MiB CSV is 8 parts. The file is written by Node into a temp dir that the page server
// mounts at /big/; the page fetches it into a File with a fixed lastModified, which is what
// the client's resume record is keyed on (with the name and the size).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { errorBox, hashDownload, withPage, startStack, writeCsvFile } from "../harness.js";

const TIMEOUT = 120_000;
const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;
const FILE_SIZE = 40 * MiB - 1234; // 8 parts, the last one short
const PART_COUNT = Math.ceil(FILE_SIZE / PART_SIZE);
const LAST_MODIFIED = 1_700_000_000_000;

for (const store of ["embedded", "garage"]) {
  describe(`multipart uploads with our JS client and the demo page, ${store} store`, { timeout: 4 * TIMEOUT }, () => {
    let stack;
    let dir;
    let sha256;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), "multipart-e2e-"));
      sha256 = await writeCsvFile(path.join(dir, "ledger.csv"), FILE_SIZE);
      stack = await startStack({
        store,
        brokerEnv: { MULTIPART_PART_SIZE: String(PART_SIZE), MULTIPART_THRESHOLD: String(10 * MiB) },
        mounts: { "/big/": dir },
      });
    });
    after(async () => {
      await stack?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The part numbers the page PUTs to the store, as the browser sends them. */
    function watchPartPuts(page) {
      const parts = [];
      page.on("request", (request) => {
        const url = new URL(request.url());
        if (request.method() === "PUT" && url.searchParams.has("partNumber")) parts.push(Number(url.searchParams.get("partNumber")));
      });
      return parts;
    }

    /**
     * Runs `uploadMultipart` in the page on /big/ledger.csv. With `stopAfter`, the caller's
     * AbortSignal stops it once that many parts are stored. Resolves to a plain record.
     */
    function runClient(page, { stopAfter = 0, concurrency = 2, sha256, partChecksums = false } = {}) {
      return page.evaluate(
        async ({ apiBase, stopAfter, concurrency, lastModified, sha256, partChecksums }) => {
          const client = await import("/upload-broker.js");
          const blob = await (await fetch("/big/ledger.csv")).blob();
          const file = new File([blob], "ledger.csv", { type: "text/csv", lastModified });
          const controller = new AbortController();
          const record = { session: null, parts: [], progress: [], result: null, error: null };
          try {
            record.result = await client.uploadMultipart(file, {
              kind: "document",
              apiBase,
              concurrency,
              sha256,
              partChecksums,
              signal: controller.signal,
              onSession: (session) => {
                record.session = session;
              },
              onPart: ({ partNumber, done }) => {
                record.parts.push(partNumber);
                if (stopAfter && done >= stopAfter + record.session.uploaded.length) controller.abort();
              },
              onProgress: ({ loaded, total }) => record.progress.push([loaded, total]),
            });
          } catch (error) {
            record.error = { code: error.code, status: error.status, stage: error.details?.stage, resumable: error.details?.resumable ?? null, message: error.message };
          }
          record.pending = client.pendingUploads();
          return record;
        },
        { apiBase: stack.broker.apiOrigin, stopAfter, concurrency, lastModified: LAST_MODIFIED, sha256, partChecksums },
      );
    }

    async function brokerCall(method, route, body) {
      const response = await fetch(`${stack.broker.apiOrigin}${route}`, {
        method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: await response.json() };
    }

    test("our client stops after 3 parts, the page reloads, and the resume uploads only the missing parts, completes and verifies", { timeout: TIMEOUT }, async () => {
      await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
        const why = (extra) => `${extra}\npage problems: ${problems.join("\n") || "none"}\n${stack.logs()}`;
        const puts = watchPartPuts(page);
        const creates = [];
        page.on("request", (request) => {
          if (request.method() === "POST" && new URL(request.url()).pathname === "/uploads/multipart") creates.push(JSON.parse(request.postData()));
        });
        // sha256: true hashes the file with WebCrypto and sends the digest with the create call.
        const first = await runClient(page, { stopAfter: 3, sha256: true });
        assert.equal(first.error?.code, "aborted", why(`the first run stops: ${JSON.stringify(first.error)}`));
        assert.equal(first.error.resumable, true, why("and stays resumable"));
        assert.equal(first.session.partCount, PART_COUNT, why(JSON.stringify(first.session)));
        assert.equal(first.session.partSize, PART_SIZE);
        assert.deepEqual(first.session.uploaded, [], "a new upload has no parts yet");
        assert.ok(first.parts.length >= 3 && first.parts.length < PART_COUNT, why(`stopped part-way: ${first.parts}`));
        assert.equal(first.pending.length, 1, why(`the upload is remembered: ${JSON.stringify(first.pending)}`));
        assert.equal(first.pending[0].uploadId, first.session.uploadId);
        const uploadId = first.session.uploadId;
        assert.deepEqual(creates, [{ profile: "document", filename: "ledger.csv", contentType: "text/csv", size: FILE_SIZE, sha256 }], "one create, with the file's digest");

        // A reload: same browser profile (localStorage), a new document, no state in memory.
        await page.reload();
        await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
        const pendingShown = await page.$$eval('[data-testid="pending-list"] li', (items) => items.map((li) => li.dataset.uploadId));
        assert.deepEqual(pendingShown, [uploadId], "the demo page lists the unfinished upload after the reload");
        const putsBefore = puts.splice(0);
        for (const n of first.parts) assert.ok(putsBefore.includes(n), `part ${n} was PUT before the reload`);

        const second = await runClient(page);
        assert.equal(creates.length, 1, "the resume creates nothing");
        assert.equal(second.error, null, why(`the resume completes: ${JSON.stringify(second.error)}`));
        assert.equal(second.session.uploadId, uploadId, "the same upload is resumed");
        const listed = second.session.uploaded;
        for (const n of first.parts) assert.ok(listed.includes(n), why(`the store lists part ${n} stored before the reload: ${listed}`));
        const missing = Array.from({ length: PART_COUNT }, (_, i) => i + 1).filter((n) => !listed.includes(n));
        assert.deepEqual([...puts].sort((a, b) => a - b), missing, why("after the reload only the missing parts are PUT, each once"));
        assert.deepEqual([...second.parts].sort((a, b) => a - b), missing);
        const [loaded, total] = second.progress.at(-1);
        assert.deepEqual([loaded, total], [FILE_SIZE, FILE_SIZE], "progress ends at the whole file");
        assert.equal(second.progress[0][0], listed.length * PART_SIZE, "progress starts from the parts already stored");
        assert.deepEqual(second.pending, [], "a completed upload is forgotten");

        const done = second.result;
        assert.equal(done.size, FILE_SIZE, why(JSON.stringify(done)));
        assert.equal(done.sha256, sha256, "the broker verified the bytes that were sent");
        assert.equal(done.contentType, "text/csv");
        assert.equal(done.filename, "ledger.csv");
        assert.doesNotMatch(done.objectKey, /staging/, "promoted out of staging");
        const download = await brokerCall("POST", "/uploads/download", { objectKey: done.objectKey });
        assert.equal(download.status, 200, JSON.stringify(download.body));
        const got = await hashDownload(download.body.url);
        assert.deepEqual(got, { status: 200, size: FILE_SIZE, sha256 }, "the stored object is the file, byte for byte");

        // Completed: the multipart session is gone.
        const after = await brokerCall("GET", `/uploads/multipart/${encodeURIComponent(uploadId)}`);
        assert.equal(after.status, 404, JSON.stringify(after.body));
        assert.deepEqual(problems, []);
      });
    });

    test("with partChecksums each part carries its SHA-256: a part damaged on the way is refused by the store (retried, then reported), and the resume completes", { timeout: TIMEOUT }, async () => {
      await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
        const why = (extra) => `${extra}\npage problems: ${problems.join("\n") || "none"}\n${stack.logs()}`;
        const creates = [];
        const checksums = new Map(); // part number → the x-amz-checksum-sha256 its PUT carried
        page.on("request", (request) => {
          const url = new URL(request.url());
          if (request.method() === "POST" && url.pathname === "/uploads/multipart") creates.push(JSON.parse(request.postData()));
          if (request.method() === "PUT" && url.searchParams.has("partNumber")) {
            checksums.set(Number(url.searchParams.get("partNumber")), request.headers()["x-amz-checksum-sha256"]);
          }
        });
        // Part 2's bytes change on the way (same length, rotated by one byte), on every attempt:
        // the store must refuse them each time, and the client gives up after its 3 attempts.
        // (The page's XHR is wrapped: a route cannot rewrite a Blob body.)
        await page.evaluate(() => {
          const { open, send } = XMLHttpRequest.prototype;
          window.damaged = 0;
          XMLHttpRequest.prototype.open = function (method, url, ...rest) {
            this.target = String(url);
            return open.call(this, method, url, ...rest);
          };
          XMLHttpRequest.prototype.send = function (body) {
            if (window.damaged !== null && body instanceof Blob && /[?&]partNumber=2&/.test(this.target)) {
              window.damaged++;
              return send.call(this, new Blob([body.slice(1), body.slice(0, 1)]));
            }
            return send.call(this, body);
          };
        });
        const first = await runClient(page, { partChecksums: true, concurrency: 1 });
        const damaged = await page.evaluate(() => window.damaged);
        assert.equal(damaged, 3, why(`part 2 was tried three times, each with a fresh URL: ${JSON.stringify({ creates, checksums: [...checksums], error: first.error })}`));
        assert.equal(first.error?.stage, "upload", why(`the damaged part stops the upload: ${JSON.stringify(first.error)}`));
        assert.deepEqual([first.error.code, first.error.status], ["checksum_mismatch", 400], why(JSON.stringify(first.error)));
        assert.equal(creates.length, 1);
        assert.equal(creates[0].checksumAlgorithm, "SHA256", "the create asks for per-part checksums");
        assert.ok(!first.parts.includes(2), why(`part 2 was not stored: ${first.parts}`));
        const listed = await brokerCall("GET", `/uploads/multipart/${encodeURIComponent(first.session.uploadId)}`);
        assert.equal(listed.body.checksumAlgorithm, "SHA256", JSON.stringify(listed.body));
        assert.ok(!listed.body.parts.some((p) => p.partNumber === 2), JSON.stringify(listed.body));

        await page.evaluate(() => {
          window.damaged = null;
        });
        const second = await runClient(page, { concurrency: 2 });
        assert.equal(second.error, null, why(`the resume completes: ${JSON.stringify(second.error)}`));
        assert.equal(second.session.uploadId, first.session.uploadId, "the same upload, still checksummed");
        assert.equal(second.result.sha256, sha256, "the broker verified the bytes that were sent");
        assert.equal(checksums.size, PART_COUNT, why(`every part was PUT: ${[...checksums.keys()]}`));
        for (const [n, checksum] of checksums) assert.match(checksum ?? "", /^[A-Za-z0-9+/]{43}=$/, `part ${n}'s PUT carried its SHA-256`);
        assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
      });
    });

    test("abortMultipart removes the upload: the broker no longer lists it (404 upload_not_found) and the page forgets it", { timeout: TIMEOUT }, async () => {
      await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
        const started = await runClient(page, { stopAfter: 1 });
        assert.equal(started.error?.code, "aborted", `${JSON.stringify(started.error)}\n${stack.logs()}`);
        const { uploadId } = started.session;
        const listed = await brokerCall("GET", `/uploads/multipart/${encodeURIComponent(uploadId)}`);
        assert.equal(listed.status, 200, JSON.stringify(listed.body));
        assert.ok(listed.body.parts.length >= 1, JSON.stringify(listed.body));

        const outcome = await page.evaluate(
          async ({ apiBase, lastModified, uploadId }) => {
            const client = await import("/upload-broker.js");
            const file = new File([await (await fetch("/big/ledger.csv")).blob()], "ledger.csv", { type: "text/csv", lastModified });
            const reply = await client.abortMultipart(file, { kind: "document", apiBase });
            let again = null;
            try {
              again = await client.listMultipart(uploadId, { apiBase });
            } catch (error) {
              again = { code: error.code, status: error.status };
            }
            return { reply, again, pending: client.pendingUploads() };
          },
          { apiBase: stack.broker.apiOrigin, lastModified: LAST_MODIFIED, uploadId },
        );
        assert.equal(outcome.reply?.aborted, true, JSON.stringify(outcome));
        assert.equal(typeof outcome.reply.expiresIn, "number");
        assert.deepEqual(outcome.again, { code: "upload_not_found", status: 404 }, "the client's own listing is refused");
        assert.deepEqual(outcome.pending, [], "the page forgets the aborted upload");

        const gone = await brokerCall("GET", `/uploads/multipart/${encodeURIComponent(uploadId)}`);
        assert.equal(gone.status, 404, JSON.stringify(gone.body));
        assert.equal(gone.body.error.code, "upload_not_found");
        const complete = await brokerCall("POST", `/uploads/multipart/${encodeURIComponent(uploadId)}/complete`, {
          parts: listed.body.parts.map(({ partNumber, etag }) => ({ partNumber, etag })),
        });
        assert.equal(complete.status, 404, `an aborted upload cannot be completed: ${JSON.stringify(complete.body)}`);
        // Chromium logs the listing's 404 that the test provoked; nothing else may show.
        assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), []);
      });
    });

    test("a whole-file sha256 that does not match the parts is refused at completion (422 checksum_mismatch), and the upload is gone", { timeout: TIMEOUT }, async () => {
      await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
        const wrong = sha256.replace(/^./, (c) => (c === "0" ? "1" : "0"));
        const record = await runClient(page, { sha256: wrong });
        const why = `${JSON.stringify(record.error)}\n${stack.logs()}`;
        assert.equal(record.error?.code, "checksum_mismatch", why);
        assert.equal(record.error.status, 422, why);
        assert.equal(record.error.stage, "complete", why);
        assert.equal(record.parts.length, PART_COUNT, "every part was stored before the completion refused them");
        assert.deepEqual(record.pending, [], "nothing is left to resume");
        const gone = await brokerCall("GET", `/uploads/multipart/${encodeURIComponent(record.session.uploadId)}`);
        assert.equal(gone.status, 404, JSON.stringify(gone.body));
        const staged = await brokerCall("POST", "/uploads/complete", { objectKey: record.session.key });
        assert.equal(staged.status, 404, `the refused object was deleted: ${JSON.stringify(staged.body)}`);
        assert.deepEqual(problems.filter((p) => !/status of 422/.test(p)), []);
      });
    });

    test("the demo page uploads a Document in parts with progress, pauses, and after a reload resumes with the same file", { timeout: TIMEOUT }, async () => {
      const file = path.join(dir, "ledger.csv");
      assert.equal(statSync(file).size, FILE_SIZE);
      await withPage(stack.browser, stack.pageUrl(), async ({ page, context, problems }) => {
        const why = async (extra) => `${extra}\n${JSON.stringify(await errorBox(page).catch(() => null))}\npage problems: ${problems.join("\n") || "none"}\n${stack.logs()}`;
        // Slow the page's network, so that Pause comes while parts are still on their way.
        const cdp = await context.newCDPSession(page);
        await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 8 * MiB });
        await page.check('[data-testid="kind-document"]');
        await page.setInputFiles('[data-testid="file-input"]', file);
        await page.click('[data-testid="upload-button"]');
        await page.waitForFunction(() => Number(document.body.dataset.partsDone ?? 0) >= 2, null, { timeout: 60_000 });
        await page.click('[data-testid="pause-button"]');
        await page.waitForFunction(() => ["paused", "done", "error"].includes(document.body.dataset.state), null, { timeout: 30_000 });
        assert.equal(await page.evaluate(() => document.body.dataset.state), "paused", await why("Pause keeps the upload"));
        assert.match(await page.textContent('[data-testid="status"]'), /Paused/);
        const partsBefore = Number(await page.evaluate(() => document.body.dataset.partsDone));
        assert.ok(partsBefore >= 2 && partsBefore < PART_COUNT, `paused part-way: ${partsBefore}`);

        await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
        await page.reload();
        await page.waitForFunction(() => document.documentElement.dataset.ready === "1");
        assert.equal(await page.isVisible('[data-testid="pending"]'), true, "after the reload the page offers to resume");
        assert.match(await page.textContent('[data-testid="pending-list"]'), /ledger\.csv/);

        await page.check('[data-testid="kind-document"]');
        await page.setInputFiles('[data-testid="file-input"]', file);
        await page.click('[data-testid="upload-button"]');
        await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 90_000 });
        assert.equal(await page.evaluate(() => document.body.dataset.state), "done", await why("the resumed upload completes"));
        const resumed = Number(await page.evaluate(() => document.body.dataset.resumedParts));
        assert.ok(resumed >= partsBefore, `the resume found the ${partsBefore} stored parts: ${resumed}`);
        assert.equal(await page.textContent('[data-testid="parts"]'), `${PART_COUNT} of ${PART_COUNT} parts stored`);
        assert.equal(await page.textContent('[data-testid="result-sha256"]'), sha256);
        assert.equal(await page.textContent('[data-testid="result-title"]'), "Document verified");
        assert.equal(await page.isVisible('[data-testid="pending"]'), false, "nothing is left to resume");
        const link = await page.getAttribute('[data-testid="download-link"]', "href");
        assert.deepEqual(await hashDownload(link), { status: 200, size: FILE_SIZE, sha256 });
        // The page first asks for a single-request upload; the broker's 400 multipart_required
        // (threshold 10 MiB) sends it to parts. Chromium logs that 400; nothing else may show.
        assert.deepEqual(problems.filter((p) => !/status of 400/.test(p)), []);
      });
    });
  });
}
