// The demo page in real headless Chromium, served from its own origin, talking to the real
// broker and its embedded S3-compatible store on two other origins.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { FIXTURES, WEB_DIR, errorBox, withPage, suiteStack, uploadThroughPage } from "../harness.js";
import { containsExif, exifSegments, hasGpsIfd, jpegSegments } from "../jpeg.js";

const TIMEOUT = 90_000;
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** The failure's facts plus the broker's recent logs, for assertion messages. */
async function diagnose(stack, page, problems) {
  const box = await errorBox(page).catch((e) => `(no error box: ${e.message})`);
  return `page error box: ${JSON.stringify(box)}\npage problems: ${problems.join("\n") || "none"}\nbroker logs (tail):\n${stack.broker.logs().slice(-4000)}`;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}`);
  return { bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers };
}

describe("demo page against the real broker", { timeout: 5 * TIMEOUT }, () => {
  const stack = suiteStack();

  test("the broker serves the demo page and the JS client (GET /, no-cache, right types)", { timeout: TIMEOUT }, async () => {
    const expected = {
      "/": ["text/html; charset=utf-8", "index.html"],
      "/app.js": ["text/javascript; charset=utf-8", "app.js"],
      "/upload-broker.js": ["text/javascript; charset=utf-8", "upload-broker.js"],
      "/style.css": ["text/css; charset=utf-8", "style.css"],
    };
    for (const [route, [type, file]] of Object.entries(expected)) {
      const response = await fetch(`${stack.broker.apiOrigin}${route}`);
      assert.equal(response.status, 200, `GET ${route}`);
      assert.equal(response.headers.get("content-type"), type, `content type of ${route}`);
      assert.equal(response.headers.get("cache-control"), "no-cache", `cache-control of ${route}`);
      const served = await response.text();
      assert.equal(served, readFileSync(path.join(WEB_DIR, file), "utf8"), `${route} differs from web/${file}: rebuild the broker`);
    }
    // Same origin (no ?api=): the page loads, its module graph resolves, and it signs.
    await withPage(stack.browser, `${stack.broker.apiOrigin}/`, async ({ page, problems }) => {
      const signed = await page.evaluate(async () => {
        const client = await import("/upload-broker.js");
        const file = new File(["a,b\n1,2\n"], "same-origin.csv", { type: "text/csv" });
        return client.sign(file, { kind: "export" });
      });
      assert.equal(signed.method, "POST");
      assert.ok(signed.fields.key.endsWith(".csv"), JSON.stringify(signed));
      assert.deepEqual(problems, []);
    });
  });

  test("(a) an avatar JPEG with GPS EXIF uploads, completes, renders, and is served without EXIF", { timeout: TIMEOUT }, async () => {
    const original = readFileSync(path.join(FIXTURES, "gps.jpg"));
    // The fixture really carries what must be removed.
    const [exif] = exifSegments(original);
    assert.ok(exif, "fixture gps.jpg must have an APP1 Exif segment");
    assert.ok(hasGpsIfd(exif.data), "fixture gps.jpg must have a GPS IFD");

    await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
      const state = await uploadThroughPage(page, {
        kind: "avatar",
        file: { name: "holiday.jpg", mimeType: "image/jpeg", buffer: original },
      });
      assert.equal(state, "done", await diagnose(stack, page, problems));

      // The verified avatar renders from the completion URL (a signed GET on the store).
      await page.waitForFunction(() => {
        const img = document.querySelector('[data-testid="avatar-image"]');
        return img.complete && img.naturalWidth > 0;
      }, null, { timeout: 15_000 });
      const img = await page.evaluate(() => {
        const el = document.querySelector('[data-testid="avatar-image"]');
        return { src: el.src, width: el.naturalWidth, height: el.naturalHeight, visible: el.checkVisibility() };
      });
      assert.ok(img.visible, "the avatar image is visible");
      assert.deepEqual([img.width, img.height], [96, 64], "the image keeps its dimensions");

      const removed = await page.$$eval('[data-testid="removed-list"] li', (items) => items.map((li) => li.dataset.removed));
      assert.ok(removed.includes("exif"), `removed list shows exif: ${removed}`);
      assert.ok(removed.includes("gps"), `removed list shows gps: ${removed}`);

      // The bytes the store serves carry no EXIF / GPS and are still the same picture.
      const { bytes, headers } = await fetchBytes(img.src);
      assert.equal(headers.get("content-type"), "image/jpeg");
      assert.equal(exifSegments(bytes).length, 0, "no APP1 Exif segment");
      assert.ok(!containsExif(bytes), "no Exif\\0\\0 header anywhere");
      assert.ok(jpegSegments(bytes).some((s) => s.marker === 0xda), "still a JPEG with a scan");
      const scan = (b) => b.subarray(b.lastIndexOf(Buffer.from([0xff, 0xda])));
      assert.ok(scan(bytes).equals(scan(original)), "stripping is lossless: the entropy-coded scan is unchanged");
      const shown = await page.textContent('[data-testid="result-sha256"]');
      assert.equal(shown, sha256(bytes), "the page shows the stored object's SHA-256");
      assert.deepEqual(problems, []);
    });
  });

  test("(b) an avatar over 2 MiB, size not declared, is refused by the store and the page says too large", { timeout: TIMEOUT }, async () => {
    const fixture = readFileSync(path.join(FIXTURES, "gps.jpg"));
    const big = Buffer.alloc(2 * 1024 * 1024 + 64 * 1024);
    fixture.copy(big);
    await withPage(stack.browser, stack.pageUrl({ declareSize: "0" }), async ({ page, problems }) => {
      const state = await uploadThroughPage(page, {
        kind: "avatar",
        file: { name: "huge.jpg", mimeType: "image/jpeg", buffer: big },
      });
      assert.equal(state, "error", "the upload must fail");
      const box = await errorBox(page);
      const why = `${JSON.stringify(box)}\n${await diagnose(stack, page, problems)}`;
      assert.ok(box.visible, why);
      assert.equal(box.code, "too_large", why);
      assert.equal(box.stage, "upload", `refused by the store, not by the broker when signing: ${why}`);
      assert.equal(box.storeCode, "EntityTooLarge", why);
      assert.equal(box.status, "400", why);
      assert.equal(box.title, "File too large", why);
      assert.match(box.text, /too large/i, why);
      assert.match(box.text, /2 MiB/, why);
      const visibleText = await page.innerText('[data-testid="error"]');
      assert.match(visibleText, /too large/i);
    });
  });

  test("(c) an export CSV uploads, completes, and downloads byte-for-byte unchanged", { timeout: TIMEOUT }, async () => {
    const rows = ["id,name,city,amount", '1,"Doe, Jane",Zürich,12.50', '2,"O""Brien",Kraków,7', "3,Łukasz,東京,0.99"];
    const csv = Buffer.from(`${rows.join("\r\n")}\r\n`, "utf8");
    await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
      const state = await uploadThroughPage(page, {
        kind: "file",
        file: { name: "report.csv", mimeType: "text/csv", buffer: csv },
      });
      assert.equal(state, "done", await diagnose(stack, page, problems));

      const link = await page.getAttribute('[data-testid="download-link"]', "href");
      assert.ok(link && link.startsWith("http"), `download link: ${link}`);
      const viaLink = await fetchBytes(link);
      assert.ok(viaLink.bytes.equals(csv), "the completion URL serves the exact bytes uploaded");
      assert.equal(await page.textContent('[data-testid="result-sha256"]'), sha256(csv));

      // A fresh link from /uploads/download serves the same bytes, as an attachment.
      const objectKey = await page.getAttribute('[data-testid="result"]', "data-object-key");
      const response = await fetch(`${stack.broker.apiOrigin}/uploads/download`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ objectKey }),
      });
      const download = await response.json();
      assert.equal(response.status, 200, JSON.stringify(download));
      assert.equal(download.filename, "report.csv");
      const viaDownload = await fetchBytes(download.url);
      assert.ok(viaDownload.bytes.equals(csv), "the download URL serves the exact bytes uploaded");
      assert.match(viaDownload.headers.get("content-disposition") ?? "", /attachment/);
      assert.deepEqual(problems, []);
    });
  });

  test("a page origin outside ALLOWED_ORIGINS is refused by CORS and told so", { timeout: TIMEOUT }, async () => {
    // Same server, but http://localhost:<port> is another origin than http://127.0.0.1:<port>.
    const url = stack.pageUrl().replace("http://127.0.0.1:", "http://localhost:");
    await withPage(stack.browser, url, async ({ page }) => {
      const state = await uploadThroughPage(page, {
        kind: "file",
        file: { name: "x.csv", mimeType: "text/csv", buffer: Buffer.from("a\n1\n") },
      });
      assert.equal(state, "error");
      const box = await errorBox(page);
      assert.equal(box.code, "network_error", JSON.stringify(box));
      assert.equal(box.stage, "sign", JSON.stringify(box));
      assert.equal(box.title, "Connection problem");
    });
  });
});
