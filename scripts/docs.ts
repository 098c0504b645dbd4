/**
 * Generates the API reference of the public packages with `@effect/docgen`, as Effect does: each package's
 * `docgen.json` says how, its public modules (`src/*.ts`, not `src/internal`) become `docs/modules/*.md`, and
 * every `@example` of their doc comments is type-checked with `tsc` against the package's sources. The client's
 * examples are then run with `tsx` as well (so an example builds values and connects nowhere); the testing
 * package's are only type-checked, as they are vitest test files, which only vitest can run. An example that
 * does not compile (or, in the client, throws) fails this script.
 *
 *   pnpm docs                    # both packages
 *   pnpm docs client             # one of them
 *
 * docgen reads `name` and `homepage` from the `package.json` of the directory it runs in, and the packages have
 * no homepage to give. So it runs in `build/docgen` of each package, where `src`, `docs` and `docgen.json` are
 * links to the package's own and `package.json` holds the package's name: the paths of `docgen.json` are
 * written as from the package's directory, and the output lands in the package's `docs/` (not committed).
 */
import { spawnSync } from "node:child_process"
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const all = ["client", "testing", "node"]
/** The packages whose examples docgen also runs (with `tsx`) once they compile. */
const run = new Set(["client"])
const wanted = process.argv.slice(2)
const packages = wanted.length === 0 ? all : wanted

let failed = false
for (const name of packages) {
  if (!all.includes(name)) throw new Error(`unknown package ${name}: expected one of ${all.join(", ")}`)
  const dir = join(root, "packages", name)
  const stage = join(dir, "build", "docgen")
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(stage, { recursive: true })
  mkdirSync(join(dir, "docs"), { recursive: true })
  for (const entry of ["src", "docs", "docgen.json"]) symlinkSync(join("..", "..", entry), join(stage, entry))
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { readonly name: string }
  writeFileSync(join(stage, "package.json"), JSON.stringify({ name: manifest.name, homepage: "" }) + "\n")
  // docgen runs `tsc`, then `tsx`, from the PATH: the workspace's own, or for a package whose examples are not
  // run a `tsx` that does nothing
  const bins = [join(root, "node_modules", ".bin")]
  if (!run.has(name)) {
    mkdirSync(join(stage, "bin"))
    writeFileSync(join(stage, "bin", "tsx"), "#!/bin/sh\n# examples of this package are type-checked, not run\nexit 0\n")
    chmodSync(join(stage, "bin", "tsx"), 0o755)
    bins.unshift(join(stage, "bin"))
  }

  const started = Date.now()
  console.log(`docgen: ${manifest.name}`)
  const result = spawnSync(join(root, "node_modules", ".bin", "docgen"), [], {
    cwd: stage,
    stdio: "inherit",
    env: { ...process.env, PATH: [...bins, process.env.PATH ?? ""].join(":") }
  })
  if (result.status !== 0) {
    failed = true
    console.error(`docgen failed for ${manifest.name} (exit ${result.status ?? result.signal})`)
  } else {
    console.log(`docgen: ${manifest.name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}
if (failed) process.exit(1)
