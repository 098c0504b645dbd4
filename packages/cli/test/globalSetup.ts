import { spawnSync } from "node:child_process"
import { join } from "node:path"

/** Bundles the binary the tests spawn (build/couch.mjs). */
export default function setup() {
  const result = spawnSync(process.execPath, [join(import.meta.dirname, "..", "scripts", "bundle.mjs")], {
    encoding: "utf8"
  })
  if (result.status !== 0) throw new Error(`bundling the couch binary failed: ${result.stderr}`)
}
