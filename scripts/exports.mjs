// The `exports` of each published package, made from its public modules (those `src/index.ts` re-exports, as
// scripts/barrel.mjs writes it): `.`, one subpath per public module, and `./package.json`; nothing internal.
//
//   node scripts/exports.mjs           rewrites packages/{client,testing,node}/package.json (part of `pnpm codegen`)
//   node scripts/exports.mjs --check   fails when a package.json is out of date (run by every package build)
//
// Two maps per package: `exports` is the workspace's (TypeScript sources: vitest, tsx and `tsc -b` read them), and
// `publishConfig.exports` is the tarball's (dist/: ESM and CommonJS, each with its declarations), which pnpm
// substitutes on `pnpm pack` / `pnpm publish`.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const packages = ["client", "testing", "node"]

const root = join(import.meta.dirname, "..")

/** The public modules of a package, in the barrel's order: `["Attachment", "Changes", ...]`. */
export const publicModules = (pkg) => {
  const index = readFileSync(join(root, "packages", pkg, "src", "index.ts"), "utf8")
  return [...index.matchAll(/^export \* as (\w+) from "\.\/(\w+)\.js"$/gm)].map((match) => {
    if (match[1] !== match[2]) throw new Error(`packages/${pkg}/src/index.ts: ${match[1]} is not named after its module`)
    return match[2]
  })
}

const dist = (module) => ({
  import: { types: `./dist/esm/${module}.d.ts`, default: `./dist/esm/${module}.js` },
  require: { types: `./dist/cjs/${module}.d.ts`, default: `./dist/cjs/${module}.js` }
})

/** The two export maps of a package. */
export const exportMaps = (pkg) => {
  const modules = publicModules(pkg)
  const entries = [[".", "index"], ...modules.map((module) => [`./${module}`, module])]
  return {
    source: Object.fromEntries([...entries.map(([path, module]) => [path, `./src/${module}.ts`]), ["./package.json", "./package.json"]]),
    published: Object.fromEntries([...entries.map(([path, module]) => [path, dist(module)]), ["./package.json", "./package.json"]])
  }
}

const manifestPath = (pkg) => join(root, "packages", pkg, "package.json")

/** Whether the package.json of a package has the export maps its modules call for. */
export const isUpToDate = (pkg) => {
  const manifest = JSON.parse(readFileSync(manifestPath(pkg), "utf8"))
  const { published, source } = exportMaps(pkg)
  return JSON.stringify(manifest.exports) === JSON.stringify(source) &&
    JSON.stringify(manifest.publishConfig?.exports) === JSON.stringify(published)
}

const write = (pkg) => {
  const manifest = JSON.parse(readFileSync(manifestPath(pkg), "utf8"))
  const { published, source } = exportMaps(pkg)
  manifest.exports = source
  manifest.publishConfig = { ...manifest.publishConfig, exports: published }
  writeFileSync(manifestPath(pkg), JSON.stringify(manifest, null, 2) + "\n")
}

if (process.argv[1] === import.meta.filename) {
  if (process.argv.includes("--check")) {
    const stale = packages.filter((pkg) => !isUpToDate(pkg))
    if (stale.length > 0) {
      console.error(`The exports of ${stale.map((pkg) => `packages/${pkg}/package.json`).join(", ")} do not match ` +
        "their public modules (src/index.ts): run `pnpm codegen`")
      process.exit(1)
    }
  } else {
    for (const pkg of packages) write(pkg)
  }
}
