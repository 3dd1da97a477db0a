// Bundles e2e/uppy/entry.js (Uppy 4 + the in-page test flow) into one ESM file with esbuild,
// in a temp dir next to a copy of index.html, for the harness's page server to serve under
// a mount (e.g. /uppy/). Uppy's packages are ESM with bare imports a browser cannot resolve
// by itself; bundling needs nothing from the network. The bundle is never committed.
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Resolves to `{ dir, close() }`: `dir` holds index.html and uppy.bundle.js. */
export async function buildUppyBundle() {
  const { build } = await import("esbuild");
  const dir = mkdtempSync(path.join(tmpdir(), "uppy-e2e-"));
  try {
    await build({
      entryPoints: [path.join(here, "entry.js")],
      outfile: path.join(dir, "uppy.bundle.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      sourcemap: "inline",
      logLevel: "silent",
      absWorkingDir: path.resolve(here, ".."),
    });
    copyFileSync(path.join(here, "index.html"), path.join(dir, "index.html"));
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`bundling Uppy with esbuild failed (run \`cd e2e && npm ci\`): ${error.message}`);
  }
  return { dir, close: () => rmSync(dir, { recursive: true, force: true }) };
}
