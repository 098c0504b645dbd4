// Bundles src/bin.ts (with @effect-couch/client's sources and every dependency) into one ES module: the binary the
// tests spawn (build/couch.mjs) and the one the published package runs (dist/couch.mjs, `node scripts/bundle.mjs
// dist/couch.mjs`, run by `build` and `prepack`).
import { buildSync } from "esbuild"
import { chmodSync } from "node:fs"
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
  // the shebang: a young generation of 2 MiB semi-spaces keeps the peak RSS ~30 MiB lower at no cost in speed (the
  // documents pass through it quickly); some CommonJS dependencies call require()
  banner: { js: "#!/usr/bin/env -S node --max-semi-space-size=2\nimport { createRequire as __couchRequire } from \"node:module\";\nconst require = __couchRequire(import.meta.url);" }
})
chmodSync(outfile, 0o755)
