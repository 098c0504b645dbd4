// The consumer test (`pnpm test:consumer`; CI runs it after `pnpm test`): the packages as a user gets them.
//
//   1. `pnpm pack` of packages/client and packages/testing (their prepack builds dist/), into a scratch directory
//      outside the workspace; the tarballs are inspected: the public modules' ESM and CommonJS builds with their
//      declarations, README, LICENSE; no tests, keys, tsconfigs or internals' declarations; every source map's
//      sources shipped (src/, and only what a map points at); `exports` exactly the public modules.
//   2. a scratch project installs the tarballs with npm (with effect, @effect/platform, @effect/platform-node,
//      typescript and @types/node from the registry, at the ranges the workspace uses), then
//      - `node app.mjs` and `node app.cjs` (scripts/consumer/): the embedded CouchTestServer, a session, a database,
//        writes, reads, a streamed `_all_docs`; each must print its ok line and exit by itself;
//      - `tsc --noEmit` over scripts/consumer/app.ts (and app-cjs.cts) with nodenext and with bundler resolution,
//        strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, noPropertyAccessFromIndexSignature, and
//        skipLibCheck off.
//   3. the browser: scripts/consumer/browser/app.ts type-checked with the DOM's lib (no Node types), bundled by
//      esbuild (ESM, platform browser, minified; its gzipped size is printed), and run in headless Chromium by
//      browser/run.mjs: a page on its own 127.0.0.1 port against the embedded server (given CORS for that origin,
//      with credentials), a cookie session over FetchHttpClient with credentials: "include": create, put, get,
//      head, `_all_docs`, a continuous changes feed, an attachment uploaded from a stream and read back, a cookie
//      that lapses; the page's requests are recorded over the DevTools protocol (exactly two logins).
//   4. the couch CLI: `pnpm pack` of packages/cli (one bundled file), installed with npm in a project of its own,
//      `npx couch --help` lists its commands.
//
// Needs Node 20+, npm, pnpm, the npm registry and Chromium (CHROMIUM, else /usr/bin/chromium: Debian's chromium,
// which .ci/run installs). Exits non-zero on the first failure and keeps the scratch
// directory then (its path is printed); EFFECT_COUCH_CONSUMER_KEEP=1 keeps it on success too.
import { spawnSync } from "node:child_process"
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, posix, relative } from "node:path"
import { gzipSync } from "node:zlib"
import { publicModules } from "./exports.mjs"

const root = join(import.meta.dirname, "..")
const fixtures = join(import.meta.dirname, "consumer")
const packageNames = { client: "@effect-couch/client", testing: "@effect-couch/testing" }
const scratch = realpathSync(mkdtempSync(join(tmpdir(), "effect-couch-consumer-")))
if (!relative(realpathSync(root), scratch).startsWith("..")) {
  throw new Error(`The scratch directory ${scratch} is inside the workspace; set TMPDIR elsewhere`)
}
const tarballDir = join(scratch, "tarballs")
const appDir = join(scratch, "app")

class StepError extends Error {}
const fail = (message) => {
  throw new StepError(message)
}

/** Runs a command; fails the step unless it exits 0 within the timeout. Returns its output. */
const run = (command, args, { cwd, env = process.env, timeout = 300_000, quiet = false } = {}) => {
  const result = spawnSync(command, args, { cwd, env, timeout, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`
  const what = `${command} ${args.join(" ")} (in ${cwd})`
  if (result.error?.code === "ETIMEDOUT") fail(`${what} did not finish within ${timeout / 1000} s\n${output}`)
  if (result.error) fail(`${what} could not run: ${result.error.message}`)
  if (result.status !== 0) fail(`${what} exited with ${result.status ?? result.signal}\n${output}`)
  if (!quiet && output.trim() !== "") console.log(indent(output.trim()))
  return output
}
const indent = (text) => text.split("\n").map((line) => `    ${line}`).join("\n")

const readJson = (path) => JSON.parse(readFileSync(path, "utf8"))

// -----------------------------------------------------------------------------
// 1. pack and inspect
// -----------------------------------------------------------------------------

const tarballs = {}

const pack = () => {
  mkdirSync(tarballDir, { recursive: true })
  for (const pkg of Object.keys(packageNames)) {
    const before = new Set(readdirSync(tarballDir))
    run("pnpm", ["pack", "--pack-destination", tarballDir], { cwd: join(root, "packages", pkg), quiet: true })
    const made = readdirSync(tarballDir).filter((file) => file.endsWith(".tgz") && !before.has(file))
    if (made.length !== 1) fail(`pnpm pack in packages/${pkg} made ${made.length} tarballs: ${made.join(", ")}`)
    tarballs[pkg] = join(tarballDir, made[0])
  }
  return Object.values(tarballs).map((path) => relative(scratch, path)).join(", ")
}

const forbidden = [
  [/(^|\/)tests?\//, "a test directory"],
  [/\.(test|spec)\.[cm]?[jt]sx?$/, "a test file"],
  [/\.(pem|key|crt|cer|csr|p12|pfx|jks)$/i, "a key or certificate"],
  [/(^|\/)tsconfig[^/]*\.json$/, "a tsconfig"],
  [/(^|\/)(vitest|vite|eslint)\.config\./, "a tool's config"],
  [/\.tsbuildinfo$/, "a build info file"],
  [/(^|\/)(build|node_modules|docs|coverage)\//, "a build, dependency or docs directory"],
  [/(^|\/)docgen\.json$/, "docgen's config"],
  [/(^|\/)\.[^/]+$/, "a dotfile"],
  [/(^|\/)dist\/[^/]+\/internal\/.*\.d\.ts(\.map)?$/, "an internal module's declarations"],
  [/^src\/.*\.d\.ts$/, "an ambient declaration file of the sources"]
]

const inspect = () => {
  const lines = []
  const rootLicense = readFileSync(join(root, "LICENSE"), "utf8")
  for (const [pkg, tarball] of Object.entries(tarballs)) {
    const where = `${packageNames[pkg]} (${relative(scratch, tarball)})`
    const files = run("tar", ["tzf", tarball], { cwd: scratch, quiet: true }).split("\n").filter((line) => line !== "")
      .filter((line) => !line.endsWith("/"))
      .map((line) => line.replace(/^package\//, ""))
    const has = new Set(files)
    for (const file of files) {
      for (const [pattern, what] of forbidden) {
        if (pattern.test(file)) fail(`${where} holds ${what}: ${file}`)
      }
      if (file.endsWith(".ts") && !file.endsWith(".d.ts") && !file.startsWith("src/")) {
        fail(`${where} holds a TypeScript source outside src/: ${file}`)
      }
    }
    const unpacked = join(scratch, "unpacked", pkg)
    mkdirSync(unpacked, { recursive: true })
    run("tar", ["xzf", tarball, "-C", unpacked, "--strip-components=1"], { cwd: scratch, quiet: true })
    for (const file of files) {
      if (/PRIVATE KEY-----/.test(readFileSync(join(unpacked, file), "latin1"))) fail(`${where}: ${file} holds a private key`)
    }

    for (const file of ["package.json", "README.md", "LICENSE", "dist/cjs/package.json"]) {
      if (!has.has(file)) fail(`${where} has no ${file}`)
    }
    if (readFileSync(join(unpacked, "LICENSE"), "utf8") !== rootLicense) fail(`${where}: LICENSE differs from the repository's`)
    if (!/^MIT License/.test(rootLicense)) fail("LICENSE is not the MIT license")

    // The manifest: exactly the public modules, each with types and code for import and require, all shipped.
    const manifest = readJson(join(unpacked, "package.json"))
    const text = JSON.stringify(manifest)
    if (text.includes("workspace:")) fail(`${where}: package.json still has a workspace: dependency`)
    if (manifest.license !== "MIT") fail(`${where}: license is ${manifest.license}`)
    if (!Array.isArray(manifest.sideEffects)) fail(`${where}: no sideEffects list`)
    if (manifest.scripts?.prepack || manifest.scripts?.prepare || manifest.scripts?.install || manifest.scripts?.postinstall) {
      fail(`${where}: package.json has an install-time or pack script`)
    }
    const modules = ["index", ...publicModules(pkg)]
    const expected = [".", ...publicModules(pkg).map((module) => `./${module}`), "./package.json"]
    const keys = Object.keys(manifest.exports ?? {})
    if (JSON.stringify(keys) !== JSON.stringify(expected)) {
      fail(`${where}: exports are ${keys.join(", ")}; expected ${expected.join(", ")}`)
    }
    const targets = []
    const collect = (value, path) => {
      if (typeof value === "string") targets.push([path, value])
      else for (const [key, inner] of Object.entries(value)) collect(inner, [...path, key])
    }
    collect(manifest.exports, [])
    for (const [path, target] of targets) {
      if (!has.has(posix.normalize(target))) fail(`${where}: exports ${path.join(" > ")} is ${target}, which is not shipped`)
      if (/^\.\/src\//.test(target)) fail(`${where}: exports ${path.join(" > ")} points at the sources: ${target}`)
    }
    for (const [subpath, conditions] of Object.entries(manifest.exports)) {
      if (subpath === "./package.json") continue
      for (const condition of ["import", "require"]) {
        if (typeof conditions[condition]?.types !== "string" || typeof conditions[condition]?.default !== "string") {
          fail(`${where}: exports["${subpath}"].${condition} lacks types or default`)
        }
      }
    }
    for (const field of ["main", "module", "types"]) {
      if (typeof manifest[field] !== "string" || !has.has(posix.normalize(manifest[field]))) {
        fail(`${where}: ${field} is ${manifest[field]}, which is not shipped`)
      }
    }
    for (const module of modules) {
      for (const file of [`dist/esm/${module}.js`, `dist/esm/${module}.d.ts`, `dist/cjs/${module}.js`, `dist/cjs/${module}.d.ts`]) {
        if (!has.has(file)) fail(`${where} has no ${file}`)
      }
    }
    if (readJson(join(unpacked, "dist/cjs/package.json")).type !== "commonjs") fail(`${where}: dist/cjs is not a CommonJS scope`)

    // No shipped declaration may import an untyped dependency (the embedded server's express and PouchDB).
    for (const file of files.filter((file) => file.endsWith(".d.ts"))) {
      const declaration = readFileSync(join(unpacked, file), "utf8")
      const imported = [...declaration.matchAll(/(?:from|import\()\s*"([^"]+)"/g)].map((match) => match[1])
      const untyped = imported.filter((specifier) => /^(express|pouchdb)/.test(specifier))
      if (untyped.length > 0) fail(`${where}: ${file} imports ${untyped.join(", ")}`)
    }

    // Source maps: every source they name is shipped, and every shipped source is named by a map.
    const mapped = new Set()
    for (const file of files.filter((file) => file.endsWith(".map"))) {
      const map = readJson(join(unpacked, file))
      for (const source of map.sources) {
        const target = posix.normalize(posix.join(posix.dirname(file), map.sourceRoot ?? "", source))
        if (!has.has(target)) fail(`${where}: ${file} names ${source}, which is not shipped`)
        mapped.add(target)
      }
    }
    const sources = files.filter((file) => file.startsWith("src/"))
    for (const source of sources) {
      if (!mapped.has(source)) fail(`${where} ships ${source}, which no source map names`)
    }
    const count = (test) => files.filter(test).length
    lines.push(`${packageNames[pkg]}: ${files.length} files (${count((f) => f.endsWith(".js"))} .js, ` +
      `${count((f) => f.endsWith(".d.ts"))} .d.ts, ${count((f) => f.endsWith(".map"))} maps, ${sources.length} ` +
      `sources for the maps), exports ${keys.length}`)
  }
  return lines.join("; ")
}

// -----------------------------------------------------------------------------
// 2. install into a scratch project, run, type-check
// -----------------------------------------------------------------------------

const install = () => {
  mkdirSync(appDir, { recursive: true })
  writeFileSync(
    join(appDir, "package.json"),
    JSON.stringify({ name: "effect-couch-consumer", version: "0.0.0", private: true, type: "module" }, null, 2) + "\n"
  )
  for (const file of readdirSync(fixtures)) {
    if (statSync(join(fixtures, file)).isDirectory()) cpSync(join(fixtures, file), join(appDir, file), { recursive: true })
    else copyFileSync(join(fixtures, file), join(appDir, file))
  }
  const ranges = readJson(join(root, "package.json")).devDependencies
  const registry = ["effect", "@effect/platform", "@effect/platform-node", "typescript", "@types/node"]
    .map((name) => `${name}@${ranges[name]}`)
    // for the browser step's bundle (the workspace has no esbuild of its own to take a range from)
    .concat(`esbuild@${esbuildVersion}`)
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarballs.client, tarballs.testing, ...registry], {
    cwd: appDir,
    timeout: 600_000
  })
  const installed = (name) => readJson(join(appDir, "node_modules", ...name.split("/"), "package.json")).version
  return ["@effect-couch/client", "@effect-couch/testing", "effect", "@effect/platform", "@effect/platform-node", "typescript"]
    .map((name) => `${name}@${installed(name)}`).join(", ")
}

// The programs must use the embedded server, and exit by themselves once done (a handle left open is a failure).
const appEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("COUCHDB_")))

const runProgram = (file, okPrefix, timeout = 120_000) => () => {
  const output = run(process.execPath, [file], { cwd: appDir, env: appEnv, timeout, quiet: true })
  const line = output.split("\n").find((line) => line.startsWith(okPrefix))
  if (line === undefined) fail(`node ${file} printed no '${okPrefix}' line:\n${output}`)
  return line
}

const typeCheck = (project) => () => {
  run(process.execPath, [join(appDir, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", project], {
    cwd: appDir
  })
  return `tsc --noEmit -p ${project}: no errors`
}

// -----------------------------------------------------------------------------
// 3. browser bundle (headless Chromium)
// -----------------------------------------------------------------------------

const esbuildVersion = "0.28.2"
const bundleFile = join("browser", "dist", "app.js")

/** esbuild's bundle of browser/app.ts, as an application would ship it; its size, minified and gzipped. */
const bundle = () => {
  run(join(appDir, "node_modules", ".bin", "esbuild"), [
    join("browser", "app.ts"),
    "--bundle",
    "--format=esm",
    "--platform=browser",
    "--target=es2022",
    "--minify",
    `--outfile=${bundleFile}`,
    "--log-level=warning"
  ], { cwd: appDir, timeout: 120_000 })
  const code = readFileSync(join(appDir, bundleFile))
  const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KB`
  return `${bundleFile}: ${kb(code.length)} minified, ${kb(gzipSync(code).length)} gzipped (effect-couch ${
    readJson(join(appDir, "node_modules", "@effect-couch", "client", "package.json")).version
  } from the tarball, esbuild ${esbuildVersion})`
}

// -----------------------------------------------------------------------------
// 4. the couch command-line tool (packages/cli: one bundled file, no dependencies)
// -----------------------------------------------------------------------------

const cliApp = join(scratch, "cli")

/** `pnpm pack` of packages/cli, installed with npm in a project of its own; `npx couch --help` must list backup. */
const cli = () => {
  const dir = join(tarballDir, "cli")
  mkdirSync(dir, { recursive: true })
  run("pnpm", ["pack", "--pack-destination", dir], { cwd: join(root, "packages", "cli"), quiet: true })
  const tarball = join(dir, readdirSync(dir).find((file) => file.endsWith(".tgz")))
  mkdirSync(cliApp, { recursive: true })
  writeFileSync(join(cliApp, "package.json"), JSON.stringify({ name: "couch-consumer", private: true }) + "\n")
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: cliApp, timeout: 300_000 })
  const help = run("npx", ["--no-install", "couch", "--help"], { cwd: cliApp, env: appEnv, quiet: true, timeout: 60_000 })
  if (!/backup/.test(help) || !/restore/.test(help)) fail(`npx couch --help did not list backup and restore:\n${help}`)
  return `npx couch --help from ${relative(scratch, tarball)}: lists backup, restore, ...`
}

// -----------------------------------------------------------------------------

const steps = [
  ["pack", pack],
  ["tarball contents", inspect],
  ["npm install of the tarballs", install],
  ["node ESM program", runProgram("app.mjs", "esm: ok")],
  ["node CommonJS program", runProgram("app.cjs", "cjs: ok")],
  ["tsc, moduleResolution nodenext", typeCheck("tsconfig.nodenext.json")],
  ["tsc, moduleResolution bundler", typeCheck("tsconfig.bundler.json")],
  ["tsc, the browser program with the DOM lib", typeCheck(join("browser", "tsconfig.json"))],
  ["browser bundle (esbuild)", bundle],
  ["headless Chromium", runProgram(join("browser", "run.mjs"), "browser: ok", 180_000)],
  ["couch CLI from its tarball", cli]
]

const started = Date.now()
console.log(`consumer test in ${scratch}`)
let passed = 0
for (const [name, step] of steps) {
  const start = Date.now()
  try {
    const detail = step()
    passed++
    console.log(`ok   ${name} (${((Date.now() - start) / 1000).toFixed(1)} s): ${detail}`)
  } catch (error) {
    console.error(`FAIL ${name} (${((Date.now() - start) / 1000).toFixed(1)} s)`)
    console.error(indent(error instanceof StepError ? error.message : String(error?.stack ?? error)))
    console.error(`consumer test: ${passed} passed, 1 failed (kept ${scratch})`)
    process.exit(1)
  }
}
if (process.env.EFFECT_COUCH_CONSUMER_KEEP !== "1") rmSync(scratch, { recursive: true, force: true })
console.log(`consumer test: ${passed} passed, 0 failed in ${((Date.now() - started) / 1000).toFixed(1)} s`)
