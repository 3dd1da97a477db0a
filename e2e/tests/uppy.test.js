// A third-party client in the browser: Uppy 4 (@uppy/core + @uppy/aws-s3, versions pinned in
// e2e/package.json) uploads with the broker's presigned POST (default) or presigned PUT
// (S3_UPLOAD_MODE=put) through `getUploadParameters` with `shouldUseMultipart: false`, on
// the embedded store and on a real Garage. Page, API and store are three origins.
//
// Uppy is bundled with esbuild (e2e/uppy/build.js) into a temp dir that the page server
// mounts at /uppy/; e2e/uppy/entry.js is the in-page flow. The results are judged by tools
// that share nothing with the broker: exiftool reads the downloaded avatar, Python's csv
// module parses the downloaded CSV.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { FIXTURES, requirePrerequisites, startStack, withPage } from "../harness.js";
import { containsExif, exifSegments, hasGpsIfd, jpegSegments } from "../jpeg.js";
import { buildUppyBundle } from "../uppy/build.js";

const TIMEOUT = 90_000;
const AVATAR_MAX_BYTES = 2 * 1024 * 1024;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/**
 * How each store refuses a POST form over the policy's content-length-range. S3 (and the
 * embedded store) say EntityTooLarge; Garage 2.5.0 says InvalidRequest with its own message.
 */
const STORE_TOO_LARGE = {
  embedded: /<Code>EntityTooLarge<\/Code>/,
  garage: /<Code>InvalidRequest<\/Code><Message>Bad request: File size does not match policy<\/Message>/,
};

const CONFIGS = [
  { uploadMode: "post", store: "embedded" },
  { uploadMode: "put", store: "embedded" },
  { uploadMode: "post", store: "garage" },
  { uploadMode: "put", store: "garage" },
];

/** Runs a judge on `bytes` written to a temp file (`{}` in `args` stands for it); its stdout. */
function judge(command, args, bytes, extension) {
  const dir = mkdtempSync(path.join(tmpdir(), "uppy-judge-"));
  try {
    const file = path.join(dir, `download${extension}`);
    writeFileSync(file, bytes);
    return execFileSync(command, args.map((a) => (a === "{}" ? file : a)), { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** exiftool's GPS tags of a JPEG: `{ tag: value }`, empty when there are none. */
function exiftoolGps(bytes) {
  const [facts] = JSON.parse(judge("exiftool", ["-j", "-G", "-GPS:all", "{}"], bytes, ".jpg"));
  const { SourceFile: _file, ...gps } = facts;
  return gps;
}

/** Python's csv module's rows of a UTF-8 CSV. */
function pythonCsvRows(bytes) {
  const script = "import csv, json, sys\nwith open(sys.argv[1], newline='', encoding='utf-8') as f:\n    print(json.dumps(list(csv.reader(f))))";
  return JSON.parse(judge("python3", ["-c", script, "{}"], bytes, ".csv"));
}

for (const { uploadMode, store } of CONFIGS) {
  const method = uploadMode.toUpperCase();
  describe(`Uppy (@uppy/aws-s3 getUploadParameters), presigned ${method}, ${store} store`, { timeout: 5 * TIMEOUT }, () => {
    let bundle;
    let stack;

    before(async () => {
      const needs = { uppy: true, tools: ["exiftool", "python3"] };
      requirePrerequisites({ ...needs, store });
      bundle = await buildUppyBundle();
      stack = await startStack({ uploadMode, store, needs, mounts: { "/uppy/": bundle.dir } });
    });
    after(async () => {
      await stack?.close();
      bundle?.close();
    });

    /**
     * Opens the Uppy page on the page origin, runs one upload in it, and then
     * `check({ page, problems, record, why })`; closes the page.
     */
    async function upload(file, { kind, declareSize = true }, check) {
      await withPage(stack.browser, `${stack.pageServer.origin}/uppy/index.html`, async (opened) => {
        const record = await opened.page.evaluate((options) => window.uppyE2E.uploadWithUppy(options), {
          apiBase: stack.broker.apiOrigin,
          kind,
          name: file.name,
          type: file.type,
          base64: file.bytes.toString("base64"),
          declareSize,
        });
        const why = (extra = "") =>
          `${extra}\nUppy record: ${JSON.stringify(record, null, 1).slice(0, 6000)}\npage problems: ${
            opened.problems.join("\n") || "none"
          }\n${stack.logs()}`;
        assert.equal(
          record.timedOut,
          false,
          why("Uppy's upload() did not settle within 30 s (@uppy/aws-s3 4 waits forever when it cannot read the store's ETag)"),
        );
        assert.equal(record.rejected, null, why("Uppy's upload() rejected"));
        await check({ ...opened, record, why });
      });
    }

    async function download(page, objectKey, { render = false } = {}) {
      const result = await page.evaluate((options) => window.uppyE2E.downloadInBrowser(options), {
        apiBase: stack.broker.apiOrigin,
        objectKey,
        render,
      });
      assert.equal(result.link.status, 200, `POST /uploads/download: ${JSON.stringify(result.link)}`);
      assert.equal(result.status, 200, `GET of the signed URL from the page answered ${result.status}`);
      return { ...result, bytes: Buffer.from(result.base64, "base64") };
    }

    /**
     * Uppy saw one successful upload of `file`, signed in this mode, and the broker completed
     * it as the file's type; the completion's reply.
     */
    function completed(record, why, { name, type }) {
      assert.equal(record.signs.length, 1, why("one sign request"));
      assert.equal(record.signs[0].status, 200, why("the broker signs"));
      assert.equal(record.signs[0].body.method, method, why(`the broker signs a presigned ${method}`));
      assert.deepEqual(record.result, { successful: [name], failed: [] }, why("Uppy's upload() resolves with a success"));
      assert.deepEqual(record.uploadErrors, [], why("no upload-error"));
      assert.equal(record.successes.length, 1, why("one upload-success"));
      assert.ok(record.successes[0].etag, why("Uppy read the store's ETag"));
      assert.equal(record.completion?.status, 200, why("POST /uploads/complete accepts the upload"));
      const done = record.completion.body;
      assert.equal(done.contentType, type, why());
      return done;
    }

    test("(a) a GPS-tagged JPEG avatar uploads through Uppy, completes, renders, and comes back stripped", { timeout: TIMEOUT }, async () => {
      const original = readFileSync(path.join(FIXTURES, "gps.jpg"));
      // The fixture really carries what must go, and the judge sees it.
      const [exif] = exifSegments(original);
      assert.ok(exif && hasGpsIfd(exif.data), "fixture gps.jpg must have an APP1 Exif segment with a GPS IFD");
      const gpsBefore = exiftoolGps(original);
      assert.ok(Object.keys(gpsBefore).length > 0, `exiftool must find GPS tags in the fixture: ${JSON.stringify(gpsBefore)}`);

      const file = { name: "holiday.jpg", type: "image/jpeg", bytes: original };
      await upload(file, { kind: "avatar" }, async ({ page, problems, record, why }) => {
        const done = completed(record, why, file);
        assert.ok(done.removed.includes("exif"), why(`removed lists exif: ${done.removed}`));
        assert.ok(done.removed.includes("gps"), why(`removed lists gps: ${done.removed}`));
        assert.notEqual(done.objectKey, record.objectKey, why("the verified avatar is promoted out of staging"));
        assert.match(done.objectKey, /\/avatars\//, why());

        const got = await download(page, done.objectKey, { render: true });
        assert.equal(got.contentType, "image/jpeg");
        assert.equal(got.imageError, undefined, `the <img> must decode: ${got.imageError}`);
        assert.ok(got.image.naturalWidth > 0, `the <img> renders: ${JSON.stringify(got.image)}`);
        assert.deepEqual([got.image.naturalWidth, got.image.naturalHeight], [96, 64], "the picture keeps its dimensions");

        assert.equal(sha256(got.bytes), done.sha256, "the download is the object the broker verified");
        assert.equal(exifSegments(got.bytes).length, 0, "no APP1 Exif segment");
        assert.ok(!containsExif(got.bytes), "no Exif\\0\\0 header anywhere");
        assert.ok(jpegSegments(got.bytes).some((s) => s.marker === 0xda), "still a JPEG with a scan");
        assert.deepEqual(exiftoolGps(got.bytes), {}, "exiftool -GPS:all finds no GPS tag in the download");
        assert.deepEqual(problems, [], "no console errors or page errors (Uppy logs one when it cannot read ETag/Location)");
      });
    });

    test(`(b) an avatar over 2 MiB is refused ${uploadMode === "put" ? "by the broker at sign (declared size)" : "by the store (POST policy)"}, Uppy reports it, nothing completes`, { timeout: TIMEOUT }, async () => {
      const big = Buffer.alloc(AVATAR_MAX_BYTES + 64 * 1024);
      readFileSync(path.join(FIXTURES, "gps.jpg")).copy(big);
      // POST: the size is not declared, so the store's content-length-range must refuse it.
      // PUT: the size is required and signed into the URL, so the broker refuses at sign.
      const file = { name: "huge.jpg", type: "image/jpeg", bytes: big };
      await upload(file, { kind: "avatar", declareSize: uploadMode === "put" }, async ({ problems, record, why }) => {
        assert.equal(record.result?.successful.length, 0, why("no success"));
        assert.equal(record.result?.failed.length, 1, why("Uppy reports the file as failed"));
        assert.equal(record.uploadErrors.length, 1, why("one upload-error"));
        assert.deepEqual(record.successes, [], why());
        assert.equal(record.completion, null, why("nothing is completed"));
        assert.equal(record.signs.length, 1, why("one sign request"));
        const [sign] = record.signs;
        const [error] = record.uploadErrors;
        if (uploadMode === "put") {
          assert.equal(sign.status, 400, why("the broker refuses to sign"));
          assert.equal(sign.body.error.code, "too_large", why());
          assert.match(error.message, /too_large/, why("Uppy's error carries the broker's code"));
          assert.equal(record.objectKey, null, why("no key was signed"));
        } else {
          assert.equal(sign.status, 200, why("the broker signs (no size declared)"));
          assert.equal(sign.body.maxBytes, AVATAR_MAX_BYTES, why());
          // Garage may also cut the connection while the body is still being sent
          // (docs/stores.md); the browser then reports a network error, status 0.
          const cut = store === "garage" && error.status === 0 && error.message === "Unknown error";
          if (!cut) {
            assert.equal(error.status, 400, why("the store answers 400"));
            assert.match(error.storeAnswer ?? "", STORE_TOO_LARGE[store], why(`the ${store} store's refusal of an oversized form`));
          }
          // The store holds nothing under the signed key, neither staged nor promoted.
          const probe = await fetch(`${stack.broker.apiOrigin}/uploads/complete`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ objectKey: sign.body.objectKey }),
          });
          const answer = await probe.json();
          assert.equal(probe.status, 404, why(`completing the refused upload: ${JSON.stringify(answer)}`));
          assert.equal(answer.error.code, "not_found", why(JSON.stringify(answer)));
        }
        // Uppy logs nothing to the console for a failed upload; the page itself must not break.
        assert.deepEqual(problems.filter((p) => p.startsWith("pageerror")), [], why());
      });
    });

    test("(c) an export CSV uploads through Uppy, completes, and downloads byte-identical", { timeout: TIMEOUT }, async () => {
      const rows = [
        ["id", "name", "city", "amount"],
        ["1", "Doe, Jane", "Zürich", "12.50"],
        ["2", 'O"Brien', "Kraków", "7"],
        ["3", "Łukasz", "東京", "0.99"],
        ["4", "line\nbreak", "", "-1"],
      ];
      const quote = (cell) => (/[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell);
      const csv = Buffer.from(rows.map((row) => row.map(quote).join(",")).join("\r\n") + "\r\n", "utf8");
      assert.deepEqual(pythonCsvRows(csv), rows, "the judge parses what is sent");

      const file = { name: "report.csv", type: "text/csv", bytes: csv };
      await upload(file, { kind: "export" }, async ({ page, problems, record, why }) => {
        const done = completed(record, why, file);
        assert.equal(done.size, csv.length, why());
        assert.equal(done.sha256, sha256(csv), why());
        assert.equal(done.filename, "report.csv", why());
        assert.match(done.objectKey, /\/uploads\//, why());

        const got = await download(page, done.objectKey);
        assert.equal(got.link.body.filename, "report.csv");
        assert.match(got.contentType ?? "", /^text\/csv/);
        assert.ok(got.bytes.equals(csv), `the download is byte-identical (${got.bytes.length} vs ${csv.length} bytes)`);
        assert.deepEqual(pythonCsvRows(got.bytes), rows, "Python's csv module reads the rows that were sent");
        assert.deepEqual(problems, [], "no console errors or page errors");
      });
    });
  });
}
