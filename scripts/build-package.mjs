// Builds the package in the current directory (packages/client or packages/testing) into dist/, as it is published:
//
//   dist/esm/  ES modules (tsconfig.build.json): .js, .d.ts, source maps and declaration maps
//   dist/cjs/  CommonJS (tsconfig.build.cjs.json, transpiled only: the ESM build type-checks), with its own
//              package.json ({"type":"commonjs"}) and a copy of the public declarations, read as CommonJS ones
//
// Declarations of internal modules are emitted (tsc cannot skip them) but never shipped (`files` in package.json):
// the public declarations must not need them, which the consumer test (scripts/consumer-test.mjs) checks by
// type-checking a program against the tarballs with skipLibCheck off. Maps point at ../../src, which is shipped.
//
// Run by `pnpm build` (every package) and by each package's `prepack`, so `pnpm pack` always packs a fresh build.
import { spawnSync } from "node:child_process"
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { basename, join } from "node:path"
import { isUpToDate, packages } from "./exports.mjs"

const dir = process.cwd()
const pkg = basename(dir)
if (!packages.includes(pkg) || !existsSync(join(dir, "tsconfig.build.json"))) {
  console.error(`build-package.mjs: run it in one of packages/{${packages.join(",")}} (here: ${dir})`)
  process.exit(1)
}
if (!isUpToDate(pkg)) {
  console.error(`packages/${pkg}/package.json: its exports do not match src/index.ts; run \`pnpm codegen\``)
  process.exit(1)
}

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
const run = (project) => {
  const result = spawnSync(process.execPath, [tsc, "-p", project], { cwd: dir, stdio: "inherit" })
  if (result.status !== 0) {
    console.error(`packages/${pkg}: tsc -p ${project} failed`)
    process.exit(result.status ?? 1)
  }
}

rmSync(join(dir, "dist"), { recursive: true, force: true })
run("tsconfig.build.json")
run("tsconfig.build.cjs.json")
writeFileSync(join(dir, "dist", "cjs", "package.json"), JSON.stringify({ type: "commonjs" }, null, 2) + "\n")

// The public declarations (those of the top-level modules), copied next to the CommonJS build: in dist/cjs
// (a CommonJS scope) TypeScript reads them as the types of `require("@effect-couch/...")`.
const esm = join(dir, "dist", "esm")
for (const file of readdirSync(esm)) {
  if (file.endsWith(".d.ts") || file.endsWith(".d.ts.map")) copyFileSync(join(esm, file), join(dir, "dist", "cjs", file))
}
console.log(`packages/${pkg}: built dist/esm and dist/cjs`)
