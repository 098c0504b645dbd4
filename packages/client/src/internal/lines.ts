/**
 * Splitting a body into lines as it arrives: bytes decoded as UTF-8 across pieces (a character split between two
 * pieces is kept whole), lines ended by LF, CRLF or a lone CR (a CRLF split between two pieces is one line end).
 */
import type * as Chunk from "effect/Chunk"

/** Splits a body into lines across pieces: `push` gives the lines a piece completes, `end` the last one, if any. */
export interface LineSplitter {
  /** The lines these bytes complete. */
  readonly push: (chunk: Chunk.Chunk<Uint8Array> | ReadonlyArray<Uint8Array>) => Array<string>
  /** The last line, when the body did not end with a line end. */
  readonly end: () => Array<string>
}

const lineEnd = /\r\n|\r|\n/

/** A new splitter, for one body. */
export const lineSplitter = (): LineSplitter => {
  const decoder = new TextDecoder()
  let rest = ""
  // the text seen last ended with a CR: a LF that starts the next piece ends the same line
  let afterCR = false
  const lines = (piece: string): Array<string> => {
    if (piece === "") return []
    let text = piece
    if (afterCR && text.charCodeAt(0) === 10) text = text.slice(1)
    afterCR = false
    text = rest + text
    if (text === "") return []
    // a feed of LF line ends (CouchDB's) is split on the character, without the regular expression
    const parts = text.indexOf("\r") === -1 ? text.split("\n") : text.split(lineEnd)
    rest = parts.pop() ?? ""
    afterCR = parts.length > 0 && text.charCodeAt(text.length - 1) === 13
    return parts
  }
  return {
    push: (chunk) => {
      let text = ""
      for (const bytes of chunk) text += decoder.decode(bytes, { stream: true })
      return lines(text)
    },
    end: () => {
      const last = lines(decoder.decode())
      const tail = rest
      rest = ""
      return tail === "" ? last : [...last, tail]
    }
  }
}
