// Test harness: the real broker binary (with its embedded S3-compatible store, or against a
// throwaway Garage), the demo page served from a third origin by a tiny node server, and
// Debian's headless Chromium.
//
// Three origins take part, so CORS is really exercised:
//   page   http://127.0.0.1:<pagePort>   (this file's static server for web/, plus mounts)
//   API    http://127.0.0.1:<apiPort>    (the broker)
//   store  http://127.0.0.1:<storePort>  (the broker's embedded store, or Garage's S3 API)
//
// The broker runs in POST mode (presigned POST forms, the default) or PUT mode
// (`uploadMode: "put"`, i.e. S3_UPLOAD_MODE=put), on the embedded store or on Garage
// (`store: "garage"`: a single-node Garage 2.5.0 started by the Rust helper
// `testkit-garage`, crates/testkit/src/bin/testkit-garage.rs).
//
// Environment:
//   BROKER_BIN          the broker binary (default: $CARGO_TARGET_DIR/debug/upload-broker,
//                       else /work/target/debug/upload-broker)
//   TESTKIT_GARAGE_BIN  the Garage helper (default: $CARGO_TARGET_DIR/debug/testkit-garage,
//                       else /work/target/debug/testkit-garage)
//   GARAGE_BIN          the garage binary the helper runs (default: the cache path that
//                       scripts/garage.sh installs to)
//   CHROMIUM_PATH       the browser (default /usr/bin/chromium)
//   E2E_BROKER_LOGS     set to 1 to echo the broker's (and the Garage helper's) logs

import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, "..");
export const WEB_DIR = path.join(REPO_ROOT, "web");
export const FIXTURES = path.join(here, "fixtures");

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
/** A binary of this workspace: $CARGO_TARGET_DIR/debug/<name>, else /work/target/debug/<name>. */
const cargoBin = (name) =>
  process.env.CARGO_TARGET_DIR
    ? path.join(path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR), "debug", name)
    : path.join("/work/target/debug", name);
export const BROKER_BIN = process.env.BROKER_BIN || cargoBin("upload-broker");
export const TESTKIT_GARAGE_BIN = process.env.TESTKIT_GARAGE_BIN || cargoBin("testkit-garage");
/** Where scripts/garage.sh installs Garage (crates/testkit/src/garage.rs looks there too). */
export const GARAGE_BIN =
  process.env.GARAGE_BIN ||
  path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), ".cache"), "upload-broker", "garage-2.5.0", "bin", "garage");

/** Brokers still running, killed if the test process exits without stopping them. */
const running = new Set();
/** Garage helpers still running: told to stop (they clean up their temp dir) on exit. */
const runningGarages = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
  // SIGTERM, not SIGKILL: the helper then stops Garage and removes its directory. (Its
  // stdin, a pipe from this process, also closes when this process is gone.)
  for (const child of runningGarages) child.kill("SIGTERM");
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

/** Whether `command args…` runs and exits 0. */
function runs(command, args) {
  const result = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return !result.error && result.status === 0;
}

/**
 * Fails (never skips) with what is missing and how to get it.
 *
 * @param {object} [needs]
 * @param {"embedded"|"garage"} [needs.store]  "garage" also needs the Garage helper and Garage
 * @param {boolean} [needs.uppy]  the Uppy packages and esbuild (e2e/package.json)
 * @param {string[]} [needs.tools]  judges run on the results: "exiftool", "python3"
 */
export function requirePrerequisites({ store = "embedded", uppy = false, tools = [] } = {}) {
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
  const packages = ["playwright-core", ...(uppy ? ["@uppy/core", "@uppy/aws-s3", "@uppy/golden-retriever", "esbuild"] : [])];
  const absent = packages.filter((name) => !existsSync(path.join(here, "node_modules", name, "package.json")));
  if (absent.length) {
    missing.push(`The npm packages ${absent.join(", ")} are missing: run \`cd e2e && npm ci\`.`);
  }
  if (store === "garage") {
    if (!existsSync(TESTKIT_GARAGE_BIN)) {
      missing.push(
        `The Garage helper is missing at ${TESTKIT_GARAGE_BIN}. Build it with ` +
          "`cargo build -p broker-testkit --bins` (the tests look in $CARGO_TARGET_DIR/debug, or set TESTKIT_GARAGE_BIN).",
      );
    }
    if (!existsSync(GARAGE_BIN)) {
      missing.push(
        `Garage 2.5.0 is missing at ${GARAGE_BIN}. Install it with \`bash scripts/garage.sh\` ` +
          "(builds it from crates.io into the cache once, about 16 minutes) or set GARAGE_BIN.",
      );
    }
  }
  const judges = {
    exiftool: [["-ver"], "exiftool is missing: `apt-get install -y libimage-exiftool-perl`."],
    python3: [["-c", "import csv"], "python3 (with its csv module) is missing: `apt-get install -y python3`."],
  };
  for (const tool of tools) {
    const [args, hint] = judges[tool] ?? [["--version"], `${tool} is missing.`];
    if (!runs(tool, args)) missing.push(hint);
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

/**
 * Serves web/ on 127.0.0.1:<port>, read fresh on every request. `mounts` serves more
 * directories under URL prefixes, e.g. `{ "/uppy/": "/tmp/uppy-bundle-x" }`.
 */
export async function startPageServer(port, { mounts = {} } = {}) {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, "http://page.invalid");
    const prefix = Object.keys(mounts).find((p) => pathname.startsWith(p));
    const root = prefix ? path.resolve(mounts[prefix]) : WEB_DIR;
    const rest = prefix ? pathname.slice(prefix.length) : pathname;
    const relative = rest === "/" || rest === "" ? "index.html" : decodeURIComponent(rest).replace(/^\/+/, "");
    const file = path.resolve(root, relative);
    const inside = file.startsWith(root + path.sep);
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
 * Starts `testkit-garage`: a single-node Garage 2.5.0 in a temp dir with one bucket, one key
 * that owns it, and a CORS rule for `origins`. Resolves to its facts
 * `{ endpoint, region, bucket, accessKey, secretKey }` plus `logs()` and `stop()`;
 * `stop()` closes the helper's stdin, on which it stops Garage and removes the directory.
 */
export async function startGarage({ origins = [] } = {}) {
  const child = spawn(TESTKIT_GARAGE_BIN, origins, {
    env: { ...process.env, RUST_BACKTRACE: process.env.RUST_BACKTRACE || "0" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  const tracked = track(child, runningGarages, [child.stderr]);
  // The helper reads stdin only to notice that it closed; a dead helper must not crash us.
  child.stdin.on("error", () => {});

  const stop = async () => {
    if (tracked.exited() === null) {
      child.stdin.end();
      const term = setTimeout(() => child.kill("SIGTERM"), 10_000);
      const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await tracked.whenExited;
      clearTimeout(term);
      clearTimeout(kill);
    }
  };

  const facts = await new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      fail(new Error(`testkit-garage printed nothing within 60 s:\n${tracked.logs()}`));
    }, 60_000);
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop().finally(() => reject(error));
    };
    child.once("error", (error) => fail(new Error(`could not run ${TESTKIT_GARAGE_BIN}: ${error.message}`)));
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
      const newline = stdout.indexOf("\n");
      if (newline < 0 || settled) return;
      try {
        const parsed = JSON.parse(stdout.slice(0, newline));
        settled = true;
        clearTimeout(timer);
        resolve(parsed);
      } catch (error) {
        fail(new Error(`testkit-garage printed no JSON line (${error.message}): ${stdout}\n${tracked.logs()}`));
      }
    });
    tracked.whenExited.then((how) => {
      fail(new Error(`testkit-garage exited before Garage was up (${JSON.stringify(how)}):\n${tracked.logs()}`));
    });
  });
  for (const field of ["endpoint", "region", "bucket", "accessKey", "secretKey"]) {
    if (typeof facts[field] !== "string" || !facts[field]) {
      await stop();
      throw new Error(`testkit-garage's JSON line lacks "${field}": ${stdout}`);
    }
  }
  return { ...facts, logs: tracked.logs, stop };
}

/**
 * Keeps the last output of `child` on `streams` (echoed with E2E_BROKER_LOGS=1) and removes it
 * from `registry` once it exits. `logs()` is that output, `exited()` how it exited (null while
 * it runs), `whenExited` resolves to the same.
 */
function track(child, registry, streams) {
  registry.add(child);
  let logs = "";
  for (const stream of streams) {
    stream.setEncoding("utf8").on("data", (chunk) => {
      logs += chunk;
      if (logs.length > 200_000) logs = logs.slice(-100_000);
      if (process.env.E2E_BROKER_LOGS === "1") process.stderr.write(chunk);
    });
  }
  let exited = null;
  const whenExited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      registry.delete(child);
      exited = { code, signal };
      resolve(exited);
    }),
  );
  return { logs: () => logs, exited: () => exited, whenExited };
}

/**
 * Starts the broker binary on free ports and a temp DATA_DIR, allowing `allowedOrigins` by
 * CORS. Resolves once /healthz answers.
 *
 * @param {object} options
 * @param {string[]} options.allowedOrigins
 * @param {Record<string,string>} [options.env]  more environment for the broker
 * @param {"post"|"put"} [options.uploadMode="post"]  S3_UPLOAD_MODE
 * @param {object} [options.garage]  a store from `startGarage()`; without it the broker runs
 *        its embedded store
 */
export async function startBroker({ allowedOrigins, env = {}, uploadMode = "post", garage } = {}) {
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
      // Plain logs in failure messages.
      NO_COLOR: "1",
      // The page runs without credentials; the API is open to it alone (CORS).
      ...(hasAuthSettings ? {} : { AUTH_MODE: "none", ...(garage ? { AUTH_MODE_NONE_I_UNDERSTAND_THIS_IS_INSECURE: "true" } : {}) }),
      S3_UPLOAD_MODE: uploadMode,
      ...(garage
        ? {
            S3_ENABLED: "true",
            S3_ENDPOINT: garage.endpoint,
            S3_REGION: garage.region,
            S3_BUCKET: garage.bucket,
            S3_ACCESS_KEY: garage.accessKey,
            S3_SECRET_KEY: garage.secretKey,
            S3_FORCE_PATH_STYLE: "true",
          }
        : {}),
      ...env,
      BIND_ADDR: `127.0.0.1:${apiPort}`,
      DEVSTORE_BIND_ADDR: `127.0.0.1:${storePort}`,
      DATA_DIR: path.join(dataDir, "data"),
      ALLOWED_ORIGINS: allowedOrigins.join(","),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tracked = track(child, running, [child.stdout, child.stderr]);

  const broker = {
    apiOrigin,
    storeOrigin: garage ? new URL(garage.endpoint).origin : `http://127.0.0.1:${storePort}`,
    uploadMode,
    dataDir,
    logs: tracked.logs,
    async stop() {
      if (tracked.exited() === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await tracked.whenExited;
        clearTimeout(timer);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (tracked.exited()) {
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`the broker exited during startup (${JSON.stringify(tracked.exited())}):\n${tracked.logs()}`);
    }
    try {
      const response = await fetch(`${apiOrigin}/healthz`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await broker.stop();
      throw new Error(`the broker did not answer /healthz within 30 s:\n${tracked.logs()}`);
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
 *
 * @param {object} [options]
 * @param {Record<string,string>} [options.brokerEnv]  more environment for the broker
 * @param {"post"|"put"} [options.uploadMode="post"]  the broker's S3_UPLOAD_MODE
 * @param {"embedded"|"garage"} [options.store="embedded"]  "garage": a throwaway Garage whose
 *        bucket allows the page's origin by CORS
 * @param {Record<string,string>} [options.mounts]  more directories for the page server
 * @param {object} [options.needs]  more prerequisites (see `requirePrerequisites`)
 */
export async function startStack({ brokerEnv = {}, uploadMode = "post", store = "embedded", mounts = {}, needs = {} } = {}) {
  requirePrerequisites({ ...needs, store });
  const pagePort = await freePort();
  const pageServer = await startPageServer(pagePort, { mounts });
  let garage;
  let broker;
  let browser;
  try {
    if (store === "garage") garage = await startGarage({ origins: [pageServer.origin] });
    broker = await startBroker({ allowedOrigins: [pageServer.origin], env: brokerEnv, uploadMode, garage });
    browser = await launchBrowser();
  } catch (error) {
    await browser?.close().catch(() => {});
    await broker?.stop().catch(() => {});
    await garage?.stop().catch(() => {});
    await pageServer.close();
    throw error;
  }
  return {
    pageServer,
    broker,
    garage,
    browser,
    pagePort,
    /** The broker's logs, and Garage's helper's when there is one, for failure messages. */
    logs(limit = 4000) {
      const brokerLogs = `broker logs (tail):\n${broker.logs().slice(-limit)}`;
      return garage ? `${brokerLogs}\ntestkit-garage logs (tail):\n${garage.logs().slice(-limit)}` : brokerLogs;
    },
    /** The demo page on the page origin, pointed at this broker. */
    pageUrl(extra = {}) {
      const query = new URLSearchParams({ api: broker.apiOrigin, ...extra });
      return `${pageServer.origin}/index.html?${query}`;
    },
    async close() {
      await browser.close().catch(() => {});
      await broker.stop();
      await garage?.stop();
      await pageServer.close();
    },
  };
}

/**
 * The stack of the enclosing `describe`: started (`startStack(options)`) before its tests and
 * closed after them. The object is empty until then.
 */
export function suiteStack(options) {
  const stack = {};
  before(async () => Object.assign(stack, await startStack(options)));
  after(async () => stack.close?.());
  return stack;
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

/** Runs `body({ page, context, problems })` on a new page (see `openPage`), then closes it. */
export async function withPage(browser, url, body) {
  const opened = await openPage(browser, url);
  try {
    return await body(opened);
  } finally {
    await opened.context.close();
  }
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

/**
 * Writes a valid CSV of exactly `size` bytes (a header, then numbered rows, the last one
 * padded) to `file`, in chunks, and resolves to its SHA-256 (hex). Big test files are made
 * this way rather than kept in the repository.
 */
export async function writeCsvFile(file, size) {
  const { openSync, writeSync, closeSync } = await import("node:fs");
  const hash = createHash("sha256");
  const fd = openSync(file, "w");
  try {
    let written = 0;
    let row = 0;
    const emit = (text) => {
      const bytes = Buffer.from(text, "utf8");
      writeSync(fd, bytes);
      hash.update(bytes);
      written += bytes.length;
    };
    // Rows of 40 bytes, the last one padded (with spaces in its last field) to the exact size.
    const line = (n, length) => `${n},row ${String(n).padStart(12, "0")},${(n % 997) * 0.25}`.padEnd(length - 1, " ") + "\n";
    emit("id,name,amount\n");
    while (written < size) {
      let chunk = "";
      while (chunk.length < 1 << 20 && written + chunk.length + 80 <= size) chunk += line(row++, 40);
      emit(chunk || line(row++, size - written));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * What the Uppy Companion-route tests (and e2e/bench/uppy-resume.js) run on: a CSV of
 * `size` bytes served at /big/big.csv, the Uppy bundle at /uppy/index.html, and a broker on
 * `store` that takes one API key of tenant `acme` and one of `globex`. Resolves to
 * `{ stack, sha256, file, acme, globex, uppyPage, close() }`.
 */
export async function startUppyStack({ store, size }) {
  requirePrerequisites({ uppy: true, store });
  const { buildUppyBundle } = await import("./uppy/build.js");
  const dir = mkdtempSync(path.join(tmpdir(), "uppy-e2e-"));
  let bundle;
  try {
    const file = path.join(dir, "big.csv");
    const sha256 = await writeCsvFile(file, size);
    bundle = await buildUppyBundle();
    const acme = apiKey("acme");
    const globex = apiKey("globex");
    const stack = await startStack({
      store,
      needs: { uppy: true },
      brokerEnv: { API_KEYS: `${acme.entry},${globex.entry}` },
      mounts: { "/uppy/": bundle.dir, "/big/": dir },
    });
    const close = async () => {
      await stack.close();
      bundle.close();
      rmSync(dir, { recursive: true, force: true });
    };
    return { stack, sha256, file, acme, globex, uppyPage: `${stack.pageServer.origin}/uppy/index.html`, close };
  } catch (error) {
    bundle?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * `startUppyStack` around a `describe` block: registers its `before` and `after` hooks and
 * returns the object they fill (`stack`, `sha256`, `acme`, `globex`, `uppyPage`, …), to be
 * read inside the tests.
 */
export function useUppyStack(options) {
  const uppyStack = {};
  before(async () => {
    Object.assign(uppyStack, await startUppyStack(options));
  });
  after(async () => {
    await uppyStack.close?.();
  });
  return uppyStack;
}

/** An API key for `tenant` and its API_KEYS entry (`tenant:sha256:label`). */
export function apiKey(tenant) {
  const key = `ak_${randomBytes(24).toString("hex")}`;
  return { key, entry: `${tenant}:${createHash("sha256").update(key).digest("hex")}:e2e` };
}

/** GETs `url` from Node, streaming: resolves to `{ status, size, sha256 }` of the body. */
export async function hashDownload(url) {
  const response = await fetch(url);
  const hash = createHash("sha256");
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body) {
      hash.update(chunk);
      size += chunk.length;
    }
  }
  return { status: response.status, size, sha256: hash.digest("hex") };
}
