/**
 * CSV (RFC 4180): a streaming parser (quoted fields with commas, quotes doubled, line breaks inside quotes, CRLF or
 * LF, a byte order mark) and the writer of a row.
 */

/** A parser fed text piece by piece; each call returns the rows completed so far. */
export interface Parser {
  readonly feed: (text: string) => ReadonlyArray<ReadonlyArray<string>>
  /** The last row (when the text does not end with a line break); fails on an unterminated quote. */
  readonly end: () => ReadonlyArray<ReadonlyArray<string>>
}

/** A CSV parser with `separator` (default `,`). */
export const parser = (separator = ","): Parser => {
  let field = ""
  let row: Array<string> = []
  let quoted = false
  // in a quoted field, a quote was just read: the end of the quotes, or the first of a doubled one
  let quote = false
  let fieldStarted = false
  let first = true
  const feed = (text: string) => {
    const rows: Array<ReadonlyArray<string>> = []
    let i = 0
    if (first && text.length > 0) {
      first = false
      if (text.charCodeAt(0) === 0xfeff) i = 1
    }
    for (; i < text.length; i++) {
      const c = text[i]!
      if (quoted) {
        if (quote) {
          quote = false
          if (c === "\"") {
            field += "\""
            continue
          }
          quoted = false
          // fall through: c follows the closing quote
        } else if (c === "\"") {
          quote = true
          continue
        } else {
          field += c
          continue
        }
      }
      if (c === "\"" && !fieldStarted) {
        quoted = true
        fieldStarted = true
      } else if (c === separator) {
        row.push(field)
        field = ""
        fieldStarted = false
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++
        else if (c === "\r" && i + 1 === text.length) {
          // a CR at the end of a piece: its LF, if any, starts the next piece and makes an empty line (skipped)
        }
        row.push(field)
        if (!(row.length === 1 && row[0] === "")) rows.push(row)
        row = []
        field = ""
        fieldStarted = false
      } else {
        field += c
        fieldStarted = true
      }
    }
    return rows
  }
  const end = () => {
    if (quoted && !quote) throw new Error("a quoted field is not closed")
    if (quote) quoted = false
    if (field === "" && row.length === 0) return []
    row.push(field)
    const last = row
    row = []
    field = ""
    return [last]
  }
  return { feed, end }
}

/** A field as CSV writes it: quoted when it holds the separator, a quote or a line break. */
export const field = (value: unknown): string => {
  if (value === undefined || value === null) return ""
  const text = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, "\"\"")}"` : text
}

/** A row as a line (CRLF-free: `\n` ends it). */
export const row = (values: ReadonlyArray<unknown>): string => values.map(field).join(",") + "\n"

/** A cell's value: as it is, or (`infer`) a number, a boolean or null when it reads as one. */
export const value = (cell: string, infer: boolean): unknown => {
  if (!infer) return cell
  if (cell === "true") return true
  if (cell === "false") return false
  if (cell === "null") return null
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(cell)) {
    const n = Number(cell)
    if (Number.isFinite(n) && (Number.isSafeInteger(n) || cell.includes(".") || /e/i.test(cell))) return n
  }
  return cell
}
