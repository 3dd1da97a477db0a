// (d) An upload sent after its presigned POST expired is refused by the store and reported
// as expired, by the page (?delayUploadMs hook) and by the JS client's own functions.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { errorBox, withPage, suiteStack, uploadThroughPage } from "../harness.js";

const TIMEOUT = 60_000;
const TTL_SECONDS = 1;
const WAIT_MS = 3_000; // well past the 1 s policy expiry, at whole-second resolution

describe("expired upload links (S3_PRESIGN_TTL=1)", { timeout: 3 * TIMEOUT }, () => {
  const stack = suiteStack({ brokerEnv: { S3_PRESIGN_TTL: String(TTL_SECONDS) } });

  test("(d) the page reports an expired link when the upload starts too late", { timeout: TIMEOUT }, async () => {
    await withPage(stack.browser, stack.pageUrl({ delayUploadMs: String(WAIT_MS) }), async ({ page, problems }) => {
      const state = await uploadThroughPage(page, {
        kind: "file",
        file: { name: "late.csv", mimeType: "text/csv", buffer: Buffer.from("id,value\n1,late\n") },
      });
      assert.equal(state, "error", "the upload must fail");
      const box = await errorBox(page);
      const why = `${JSON.stringify(box)}\npage problems: ${problems.join("\n")}\nbroker logs:\n${stack.broker.logs().slice(-3000)}`;
      assert.equal(box.code, "expired", why);
      assert.equal(box.stage, "upload", why);
      assert.equal(box.status, "403", why);
      assert.equal(box.storeCode, "AccessDenied", why);
      assert.equal(box.title, "Link expired", why);
      assert.match(box.text, /expired/i, why);
    });
  });

  test("(d) the JS client's sign → wait → uploadToStore rejects with UploadError code 'expired'", { timeout: TIMEOUT }, async () => {
    await withPage(stack.browser, stack.pageUrl(), async ({ page }) => {
      const outcome = await page.evaluate(
        async ({ apiBase, waitMs }) => {
          const { sign, uploadToStore, UploadError } = await import("./upload-broker.js");
          const file = new File(["id,value\n1,late\n"], "late.csv", { type: "text/csv" });
          const signed = await sign(file, { kind: "export", apiBase });
          await new Promise((resolve) => setTimeout(resolve, waitMs));
          try {
            await uploadToStore(file, signed);
            return { resolved: true };
          } catch (error) {
            return {
              isUploadError: error instanceof UploadError,
              name: error.name,
              code: error.code,
              status: error.status,
              details: error.details,
              message: error.message,
            };
          }
        },
        { apiBase: stack.broker.apiOrigin, waitMs: WAIT_MS },
      );
      const why = JSON.stringify(outcome);
      assert.equal(outcome.isUploadError, true, why);
      assert.equal(outcome.name, "UploadError", why);
      assert.equal(outcome.code, "expired", why);
      assert.equal(outcome.status, 403, why);
      assert.equal(outcome.details.stage, "upload", why);
      assert.equal(outcome.details.storeCode, "AccessDenied", why);
      assert.match(outcome.details.storeMessage, /expired/i, why);
    });
  });
});
