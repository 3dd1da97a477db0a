// What the demo page trusts: anyone can craft a link to it, so `?api=` only names a broker
// the page is configured for (its own origin, <meta name="broker-api-origins">, or loopback
// next to a loopback page), and a reply's URL only becomes a link or an image when it is
// http(s).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { errorBox, withPage, suiteStack, uploadThroughPage } from "../harness.js";

const TIMEOUT = 90_000;

describe("the demo page's trust in links and replies", { timeout: 3 * TIMEOUT }, () => {
  const stack = suiteStack();

  test("?api= naming a foreign origin is refused before anything is sent", { timeout: TIMEOUT }, async () => {
    const foreign = "http://broker.evil.example:8080";
    await withPage(stack.browser, stack.pageUrl({ api: foreign }), async ({ page }) => {
      const sent = [];
      page.on("request", (request) => {
        if (request.url().startsWith(foreign)) sent.push(request.url());
      });
      const box = await errorBox(page);
      assert.ok(box.visible, JSON.stringify(box));
      assert.equal(box.code, "untrusted_api", JSON.stringify(box));
      assert.match(box.detail, /broker\.evil\.example/);
      assert.equal(await page.isDisabled('[data-testid="upload-button"]'), true);
      assert.equal(await page.isDisabled('[data-testid="file-input"]'), true);
      // Even a forced submit sends nothing there.
      await page.evaluate(() => document.querySelector('[data-testid="upload-form"]').requestSubmit());
      await page.waitForTimeout(200);
      assert.deepEqual(sent, []);
    });
  });

  test("a completion reply whose url is javascript: does not become the download link", { timeout: TIMEOUT }, async () => {
    await withPage(stack.browser, stack.pageUrl(), async ({ page, problems }) => {
      // The real broker answers; only the reply's url is replaced, as a hostile broker would.
      await page.route("**/uploads/complete", async (route) => {
        const response = await route.fetch();
        const json = await response.json();
        await route.fulfill({ response, json: { ...json, url: "javascript:document.title='pwned'" } });
      });
      const state = await uploadThroughPage(page, {
        kind: "file",
        file: { name: "data.csv", mimeType: "text/csv", buffer: Buffer.from("a,b\n1,2\n") },
      });
      assert.equal(state, "done", `${JSON.stringify(await errorBox(page))} ${problems.join("\n")}`);
      const link = await page.evaluate(() => {
        const a = document.querySelector('[data-testid="download-link"]');
        return { href: a.getAttribute("href"), text: a.textContent };
      });
      assert.equal(link.href, null, JSON.stringify(link));
      assert.match(link.text, /not an http\(s\) address/);
    });
  });
});
