/**
 * Checks the doc comments of the public modules (`packages/client/src/*.ts`, `packages/testing/src/*.ts`; not
 * `internal/`, not the generated `index.ts` barrels):
 *
 * - every member (property or method) of every exported interface has a doc comment with a line of prose;
 * - every export has a doc comment with `@since` and `@category`;
 * - no interface member has an `@example`: docgen compiles the examples of exports, not of their members, so
 *   one there would go unchecked (give it to the interface).
 *
 *   pnpm docs:coverage
 *
 * Fails, listing each one, when anything is missing.
 */
import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import ts from "typescript"

const root = join(import.meta.dirname, "..")
const packages = ["client", "testing", "node"]

const isExported = (node: ts.Node): boolean =>
  ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword)

const docs = (node: ts.Node): ReadonlyArray<ts.JSDoc> => ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc)

const hasProse = (node: ts.Node): boolean =>
  docs(node).some((doc) => doc.comment !== undefined && ts.getTextOfJSDocComment(doc.comment)?.trim() !== "")

const hasTag = (node: ts.Node, tag: string): boolean =>
  docs(node).some((doc) => (doc.tags ?? []).some((t) => t.tagName.text === tag))

const nameOf = (node: ts.Node): string => {
  if (ts.isVariableStatement(node)) return node.declarationList.declarations.map((d) => d.name.getText()).join(", ")
  const name = (node as { readonly name?: ts.Node }).name
  return name ? name.getText() : "(anonymous)"
}

let members = 0
let membersDocumented = 0
let exports = 0
let exportsTagged = 0
const missing: Array<string> = []

for (const pkg of packages) {
  const dir = join(root, "packages", pkg, "src")
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "index.ts").sort()
  for (const file of files) {
    const path = join(dir, file)
    const source = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true)
    const where = (node: ts.Node) =>
      `${relative(root, path)}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`
    for (const statement of source.statements) {
      if (!isExported(statement)) continue
      exports++
      const tags = ["since", "category"].filter((tag) => !hasTag(statement, tag))
      if (tags.length === 0) exportsTagged++
      else missing.push(`${where(statement)}: export ${nameOf(statement)} has no ${tags.map((t) => `@${t}`).join(" or ")}`)
      if (!ts.isInterfaceDeclaration(statement)) continue
      for (const member of statement.members) {
        if (!ts.isPropertySignature(member) && !ts.isMethodSignature(member)) continue
        members++
        const memberName = `${statement.name.text}.${member.name.getText(source)}`
        if (hasProse(member)) membersDocumented++
        else missing.push(`${where(member)}: ${memberName} has no doc comment`)
        if (hasTag(member, "example")) {
          missing.push(`${where(member)}: ${memberName} has an @example, which docgen would not compile`)
        }
      }
    }
  }
}

for (const line of missing) console.error(line)
console.log(
  `doc comments: ${membersDocumented} of ${members} interface members, ${exportsTagged} of ${exports} exports with @since and @category`
)
if (missing.length > 0) process.exit(1)
