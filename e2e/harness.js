// Test harness: the real broker binary (with its embedded S3-compatible store), the demo
// page served from a third origin by a tiny node server, and Debian's headless Chromium.
//
// Three origins take part, so CORS is really exercised:
//   page   http://127.0.0.1:<pagePort>   (this file's static server for web/)
//   API    http://127.0.0.1:<apiPort>    (the broker)
//   store  http://127.0.0.1:<storePort>  (the broker's embedded store)
//
// Environment:
//   BROKER_BIN       the broker binary (default: $CARGO_TARGET_DIR/debug/upload-broker,
//                    else /work/target/debug/upload-broker)
//   CHROMIUM_PATH    the browser (default /usr/bin/chromium)
//   E2E_BROKER_LOGS  set to 1 to echo the broker's logs

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..");
export const WEB_DIR = path.join(REPO_ROOT, "web");
export const FIXTURES = path.join(here, "fixtures");

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const BROKER_BIN =
  process.env.BROKER_BIN ||
  (process.env.CARGO_TARGET_DIR
    ? path.join(path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR), "debug", "upload-broker")
    : "/work/target/debug/upload-broker");

/** Brokers still running, killed if the test process exits without stopping them. */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Fails (never skips) with what is missing and how to get it. */
export function requirePrerequisites() {
  const missing = [];
  if (!existsSync(CHROMIUM_PATH)) {
    missing.push(
      `Chromium is missing at ${CHROMIUM_PATH}. Install Debian's package: ` +
        "`apt-get update && apt-get install -y chromium` (or set CHROMIUM_PATH). " +
        "Never download a browser with `npx playwright install`.",
    );
  }
  if (!existsSync(BROKER_BIN)) {
    missing.push(
      `The broker binary is missing at ${BROKER_BIN}. Build it with ` +
        "`cargo build -p upload-broker` (the tests look in $CARGO_TARGET_DIR/debug, or set BROKER_BIN).",
    );
  }
  if (!existsSync(path.join(here, "node_modules", "playwright-core"))) {
    missing.push("The npm packages are missing: run `cd e2e && npm ci`.");
  }
  if (missing.length) throw new Error(`e2e prerequisites missing:\n  - ${missing.join("\n  - ")}`);
}

/** A port that was free a moment ago (bound to port 0, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const CONTENT_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

/** Serves web/ on 127.0.0.1:<port>, read fresh on every request. */
export async function startPageServer(port) {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://page.invalid");
    const relative = pathname === "/" ? "index.html" : decodeURIComponent(pathname).replace(/^\/+/, "");
    const file = path.resolve(WEB_DIR, relative);
    const inside = file.startsWith(WEB_DIR + path.sep);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return;
    }
    if (!inside || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, {
      "Content-Type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
      "Cache-Control": "no-cache",
    });
    res.end(req.method === "HEAD" ? undefined : readFileSync(file));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Starts the broker binary with the embedded store on free ports and a temp DATA_DIR,
 * allowing `allowedOrigins` by CORS. Resolves once /healthz answers.
 */
export async function startBroker({ allowedOrigins, env = {} } = {}) {
  const [apiPort, storePort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(path.join(tmpdir(), "broker-e2e-"));
  const apiOrigin = `http://127.0.0.1:${apiPort}`;
  const hasAuthSettings = Object.keys({ ...process.env, ...env }).some((k) => k.startsWith("AUTH_") || k === "API_KEYS");
  const child = spawn(BROKER_BIN, ["serve"], {
    // A temp cwd, so no developer's .env is picked up.
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUST_LOG: process.env.RUST_LOG || "info",
      // The page runs without credentials; the API is open to it alone (CORS).
      ...(hasAuthSettings ? {} : { AUTH_MODE: "none" }),
      ...env,
      BIND_ADDR: `127.0.0.1:${apiPort}`,
      DEVSTORE_BIND_ADDR: `127.0.0.1:${storePort}`,
      DATA_DIR: path.join(dataDir, "data"),
      ALLOWED_ORIGINS: allowedOrigins.join(","),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let logs = "";
  const keep = (chunk) => {
    logs += chunk;
    if (logs.length > 200_000) logs = logs.slice(-100_000);
    if (process.env.E2E_BROKER_LOGS === "1") process.stderr.write(chunk);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  let exited = null;
  const exitedPromise = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      exited = { code, signal };
      resolve(exited);
    }),
  );

  const broker = {
    apiOrigin,
    storeOrigin: `http://127.0.0.1:${storePort}`,
    dataDir,
    logs: () => logs,
    async stop() {
      if (exited === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exitedPromise;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`the broker exited during startup (${JSON.stringify(exited)}):\n${logs}`);
    }
    try {
      const response = await fetch(`${apiOrigin}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await broker.stop();
      throw new Error(`the broker did not answer /healthz within 30 s:\n${logs}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return broker;
}

export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

/**
 * Everything a test needs: a page server, a broker that allows the page's origin, and a
 * browser. `close()` tears it all down (and kills the broker).
 */
export async function startStack({ brokerEnv = {} } = {}) {
  requirePrerequisites();
  const pagePort = await freePort();
  const pageServer = await startPageServer(pagePort);
  let broker;
  let browser;
  try {
    broker = await startBroker({ allowedOrigins: [pageServer.origin], env: brokerEnv });
    browser = await launchBrowser();
  } catch (error) {
    await browser?.close().catch(() => {});
    await broker?.stop().catch(() => {});
    await pageServer.close();
    throw error;
  }
  return {
    pageServer,
    broker,
    browser,
    pagePort,
    /** The demo page on the page origin, pointed at this broker. */
    pageUrl(extra = {}) {
      const query = new URLSearchParams({ api: broker.apiOrigin, ...extra });
      return `${pageServer.origin}/index.html?${query}`;
    },
    async close() {
      await browser.close().catch(() => {});
      await broker.stop();
      await pageServer.close();
    },
  };
}

/** A new page that records console errors and failed page errors for diagnostics. */
export async function openPage(browser, url) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  await page.goto(url);
  await page.waitForFunction(() => document.documentElement.dataset.ready === "1", null, { timeout: 10_000 });
  return { page, context, problems };
}

/** Picks the kind, sets the file and clicks Upload; resolves when the page is done or failed. */
export async function uploadThroughPage(page, { kind, file }) {
  await page.check(`[data-testid="kind-${kind}"]`);
  await page.setInputFiles('[data-testid="file-input"]', file);
  await page.click('[data-testid="upload-button"]');
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: 60_000 });
  return page.evaluate(() => document.body.dataset.state);
}

/** The error box's facts, for assertions and failure messages. */
export async function errorBox(page) {
  return page.evaluate(() => {
    const box = document.querySelector('[data-testid="error"]');
    return {
      visible: !box.hidden,
      code: box.dataset.code,
      stage: box.dataset.stage,
      storeCode: box.dataset.storeCode,
      status: box.dataset.status,
      title: document.querySelector('[data-testid="error-title"]').textContent,
      text: document.querySelector('[data-testid="error-text"]').textContent,
      detail: document.querySelector('[data-testid="error-detail"]').textContent,
    };
  });
}
