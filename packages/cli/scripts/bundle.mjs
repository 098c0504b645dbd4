// Bundles src/bin.ts (with @effect-couch/client's sources and every dependency) into one ES module: the binary the
// tests spawn (build/couch.mjs) and the one the published package runs (dist/couch.mjs, `node scripts/bundle.mjs
// dist/couch.mjs`, run by `build` and `prepack`).
import { buildSync } from "esbuild"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const outfile = join(root, process.argv[2] ?? "build/couch.mjs")
buildSync({
  entryPoints: [join(root, "src/bin.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile,
  legalComments: "none",
  minify: true,
  logLevel: "warning",
  // some CommonJS dependencies call require()
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __couchRequire } from \"node:module\";\nconst require = __couchRequire(import.meta.url);" }
})
