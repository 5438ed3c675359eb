// The pages' own front-end build: bundles the process editor (bpmn-js's Modeler with the
// platform's properties panel, dmn-js, the form field editor) from node_modules into
// web/static/build/, which Flask serves. `.ci/setup` runs it after `npm ci`; the output is
// not in git (a fresh machine builds it from these sources and package-lock.json).
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));

await esbuild.build({
  entryPoints: { editor: path.join(here, "src", "editor.js") },
  outdir: path.join(here, "..", "static", "build"),
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "@bpmn-io/properties-panel/preact",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  alias: { "preact": "@bpmn-io/properties-panel/preact", "react": "@bpmn-io/properties-panel/preact/compat" },
  logLevel: "warning",
});
