/**
 * Type-checks every ```ts block of the READMEs (README.md and packages/*\/README.md) against the workspace's
 * packages, with the workspace's TypeScript and the strictness of its own sources.
 *
 *   pnpm docs:readme                 # every README
 *   tsx scripts/readme-examples.ts FILE...   # these
 *
 * A block is a module of its own. A block that is a fragment names what it relies on in a marker comment on the
 * line right before it, `<!-- prelude: gen db -->`: each name is one of the preludes below, declarations put
 * before the block (or, for `gen`, the block's statements wrapped in `Effect.gen`, as they would be in a
 * program). Each prelude stands only for what the README's text says the fragments assume (the quick start's
 * imports, `couch`, `db`, code of your own), so a fragment that needs anything else fails here.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import ts from "typescript"

const root = join(import.meta.dirname, "..")

/**
 * The preludes a block may ask for. The README says, after its quick start, that the fragments use the quick
 * start's imports (and the other modules of `@effect-couch/client` and `effect` that they name), that `couch` is
 * the session and `db` a database, that statements with `yield*` run inside `Effect.gen`, and that other names
 * (`handle`, `savedSeq`, ...) stand for code of your own: each prelude is one of those.
 */
const preludes: Readonly<Record<string, string>> = {
  imports: [
    `import { Attachment, Changes, CouchAuth, CouchError, CouchSession, Database, Document, Mango, Replication, View } from "@effect-couch/client"`,
    `import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"`,
    `import { Console, Effect, Layer, Redacted, Schedule, Schema, Sink, Stream } from "effect"`
  ].join("\n"),
  gen: "", // handled by wrap()
  couch: `declare const couch: CouchSession.Service`,
  db: `declare const db: Database.Database`,
  url: `declare const url: string`,
  password: `declare const password: Redacted.Redacted<string>`,
  auth: `declare const auth: CouchAuth.CouchAuth`,
  // the modules a block's comment or code names: `// import { Agent } from "undici"`, Node's `fs.readFileSync`
  Agent: `import { Agent } from "undici"`,
  fs: `import * as fs from "node:fs"`,
  // code of your own
  MyAppError: `declare class MyAppError extends Error { readonly _tag: "MyAppError"; constructor(args: { readonly cause: unknown }) }`,
  handle: `declare const handle: (value: unknown) => Effect.Effect<void>`,
  savedSeq: `declare const savedSeq: Database.Sequence`,
  loadCheckpoint: `declare const loadCheckpoint: Effect.Effect<Database.Sequence | "now" | undefined>`,
  saveCheckpoint: `declare const saveCheckpoint: (seq: Database.Sequence | "now" | undefined) => Effect.Effect<void>`,
  bigArrayOfDocs: `declare const bigArrayOfDocs: ReadonlyArray<Document.Document>`,
  fileStream: `declare const fileStream: Stream.Stream<Uint8Array>`,
  sink: `declare const sink: Sink.Sink<void, Uint8Array>`,
  Pet: [
    `declare const Pet: Schema.Schema<{`,
    `  readonly _id: string; readonly _rev?: string | undefined; readonly name: string; readonly species: string`,
    `  readonly age: number; readonly tags: ReadonlyArray<string>; readonly owner: { readonly city: string }`,
    `}, { readonly _id: string }>`
  ].join("\n")
}

interface Block {
  readonly file: string
  /** The README line of the block's first line of code (1-based). */
  readonly line: number
  readonly code: string
  readonly preludes: ReadonlyArray<string>
}

// the READMEs named on the command line (relative to the workspace), or all of them
const readmes = (process.argv.length > 2 ?
  process.argv.slice(2) :
  ["README.md", ...readdirSync(join(root, "packages")).map((p) => join("packages", p, "README.md"))]).filter((file) => {
    try {
      readFileSync(join(root, file))
      return true
    } catch {
      return false
    }
  })

const blocks: Array<Block> = []
const problems: Array<string> = []
for (const file of readmes) {
  const lines = readFileSync(join(root, file), "utf8").split("\n")
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l))
    if (end === -1) {
      problems.push(`${file}:${i + 1}: a \`\`\`ts block that never ends`)
      break
    }
    const marker = i > 0 ? /^<!--\s*prelude:([^>]*)-->\s*$/.exec(lines[i - 1]) : null
    const names = marker ? marker[1].trim().split(/[\s,]+/).filter((n) => n !== "") : []
    for (const name of names) {
      if (!(name in preludes)) problems.push(`${file}:${i}: unknown prelude ${JSON.stringify(name)}`)
    }
    blocks.push({ file, line: i + 2, code: lines.slice(i + 1, end).join("\n"), preludes: names })
    i = end
  }
}

/** The module a block is checked as, and how many lines come before the block's first line. */
const wrap = (block: Block): { readonly text: string; readonly offset: number } => {
  const head = block.preludes.filter((n) => n !== "gen").map((n) => preludes[n]).filter((p) => p !== "")
  if (!block.preludes.includes("gen")) {
    const before = head.join("\n")
    return { text: `${before}\n${block.code}\n`, offset: before.split("\n").length }
  }
  // imports stay at the top; the statements become the body of a generator, line for line
  const code = block.code.split("\n")
  const imports = code.map((l) => (/^import\s/.test(l) ? l : ""))
  const body = code.map((l) => (/^import\s/.test(l) ? "" : l))
  const before = [...head, `import * as Gen$ from "effect/Effect"`].join("\n")
  const text = [
    before,
    imports.join("\n"),
    `export const program$ = Gen$.gen(function*() {`,
    body.join("\n"),
    `})`,
    ""
  ].join("\n")
  return { text, offset: before.split("\n").length }
}

const outDir = join(root, "build", "readme-examples")
rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
const sources = new Map<string, { readonly block: Block; readonly offset: number; readonly gen: boolean }>()
blocks.forEach((block, n) => {
  const { offset, text } = wrap(block)
  const path = join(outDir, `${block.file.replace(/[/.]/g, "_")}-${String(n).padStart(2, "0")}-L${block.line}.ts`)
  writeFileSync(path, text)
  sources.set(path, { block, offset, gen: block.preludes.includes("gen") })
})

const options: ts.CompilerOptions = {
  strict: true,
  exactOptionalPropertyTypes: true,
  noUnusedLocals: false, // a fragment names values it does not go on to use
  noFallthroughCasesInSwitch: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
  types: ["node"],
  skipLibCheck: true,
  noEmit: true,
  moduleDetection: ts.ModuleDetectionKind.Force,
  // the README's `import { Agent } from "undici"`: undici is the client's dev dependency, not the root's
  baseUrl: root,
  paths: { undici: ["packages/client/node_modules/undici/index.d.ts"] }
}

const started = Date.now()
// the testing package's declarations of its untyped dependencies, which its own tsconfig includes
const ambient = join(root, "packages", "testing", "src", "internal", "modules.d.ts")
const program = ts.createProgram([...sources.keys(), ambient], options)
const diagnostics = ts.getPreEmitDiagnostics(program)
const errors: Array<string> = [...problems]
for (const d of diagnostics) {
  const message = ts.flattenDiagnosticMessageText(d.messageText, "\n")
  const source = d.file ? sources.get(d.file.fileName) : undefined
  if (d.file === undefined || source === undefined || d.start === undefined) {
    errors.push(`${d.file ? relative(root, d.file.fileName) : "tsc"}: ${message}`)
    continue
  }
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
  // with `gen`, the block's lines come twice, its imports and then (after the generator's opening) the rest
  const n = source.block.code.split("\n").length
  const inBlock = source.gen && line > source.offset + n ? line - source.offset - n - 1 : line - source.offset
  const where = inBlock >= 0 && inBlock < n ?
    `${source.block.file}:${source.block.line + inBlock}:${character + 1}` :
    `${source.block.file}:${source.block.line} (prelude of the block, line ${line + 1} of ${relative(root, d.file.fileName)})`
  errors.push(`${where}: error TS${d.code}: ${message}`)
}

const seconds = ((Date.now() - started) / 1000).toFixed(1)
if (errors.length > 0) {
  for (const e of errors) console.error(e)
  console.error(`README examples: ${errors.length} error(s) in ${blocks.length} ts blocks of ${readmes.join(", ")}`)
  process.exit(1)
}
const withBlocks = readmes.filter((file) => blocks.some((b) => b.file === file))
console.log(`README examples: ${blocks.length} ts blocks of ${withBlocks.join(", ")} type-check (${seconds} s)`)
