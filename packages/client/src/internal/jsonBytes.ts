/**
 * Reading JSON as bytes: the place of each value in a UTF-8 text, found without decoding or parsing it, for answers
 * whose values are handed on as the server wrote them (`bulkGetRaw`). Every structural character of JSON is ASCII
 * and no byte of a multi-byte UTF-8 character is, so the bytes are read as they are.
 */

const quote = 34
const backslash = 92
const openBrace = 123
const closeBrace = 125
const openBracket = 91
const closeBracket = 93
const colon = 58
const comma = 44

const isSpace = (byte: number): boolean => byte === 32 || byte === 10 || byte === 13 || byte === 9

/** A key of an object, as text and as the bytes it is written with (without escapes). */
export interface Key {
  readonly text: string
  readonly bytes: Uint8Array
}

/** The keys an object is read for. */
export const keys = (...texts: ReadonlyArray<string>): ReadonlyArray<Key> =>
  texts.map((text) => ({ text, bytes: new TextEncoder().encode(text) }))

/** A position in a JSON text, moved on as its values are read; `problem` says what was wrong where it stopped. */
export class Cursor {
  constructor(readonly bytes: Uint8Array, public at = 0) {}

  /** Moves past white space; the byte there, or -1 at the end. */
  peek(): number {
    const bytes = this.bytes
    let at = this.at
    while (at < bytes.length && isSpace(bytes[at])) at++
    this.at = at
    return at < bytes.length ? bytes[at] : -1
  }

  /** Moves past `byte` (after white space), or says it is not there. */
  take(byte: number): boolean {
    if (this.peek() !== byte) return false
    this.at++
    return true
  }

  /** Moves past the string that starts here; its end (after the closing quote), or -1 when it does not end. */
  skipString(): number {
    const bytes = this.bytes
    const start = this.at
    let from = start + 1
    for (;;) {
      const end = bytes.indexOf(quote, from)
      if (end < 0) return -1
      let backslashes = 0
      while (bytes[end - 1 - backslashes] === backslash) backslashes++
      if (backslashes % 2 === 0) return this.at = end + 1
      from = end + 1
    }
  }

  /** Reads the string that starts here (after white space), decoded; `undefined` when there is none. */
  string(): string | undefined {
    if (this.peek() !== quote) return undefined
    const start = this.at
    if (this.skipString() < 0) return undefined
    const bytes = this.bytes
    const end = this.at - 1
    for (let at = start + 1; at < end; at++) {
      const byte = bytes[at]
      // an escape, or a control character JSON does not allow in a string: the parser decides
      if (byte === backslash || byte < 32) return parseString(bytes, start, this.at)
    }
    return decoder.decode(bytes.subarray(start + 1, end))
  }

  /**
   * Reads a member's key (after white space) and the colon after it: the index of the key in `keys` (-1 for any
   * other), without making a string of it; `undefined` when there is no key. A key with an escape is decoded.
   */
  key(keys: ReadonlyArray<Key>): number | undefined {
    if (this.peek() !== quote) return undefined
    const start = this.at + 1
    if (this.skipString() < 0) return undefined
    const end = this.at - 1
    if (!this.take(colon)) return undefined
    const bytes = this.bytes
    for (let at = start; at < end; at++) {
      // an escape, or a control character JSON does not allow in a string: the parser decides
      if (bytes[at] === backslash || bytes[at] < 32) {
        const text = parseString(bytes, start - 1, end + 1)
        return text === undefined ? undefined : keys.findIndex((key) => key.text === text)
      }
    }
    search: for (let index = 0; index < keys.length; index++) {
      const key = keys[index].bytes
      if (key.length !== end - start) continue
      for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) continue search
      return index
    }
    return -1
  }

  /**
   * Moves past the value that starts here (after white space): where it ends, or -1 when the text ends inside it
   * or it is not a value. Objects and arrays are matched bracket for bracket (strings skipped); a number or a
   * literal runs to the next delimiter, unchecked.
   */
  valueEnd(): number {
    const first = this.peek()
    if (first < 0) return -1
    const bytes = this.bytes
    const start = this.at
    if (first === quote) return this.skipString()
    if (first === openBrace || first === openBracket) {
      let depth = 0
      let at = start
      const length = bytes.length
      while (at < length) {
        const byte = bytes[at]
        if (byte === quote) {
          this.at = at
          at = this.skipString()
          if (at < 0) return -1
          continue
        }
        if (byte === openBrace || byte === openBracket) {
          depth++
        } else if ((byte === closeBrace || byte === closeBracket) && --depth === 0) {
          return this.at = at + 1
        }
        at++
      }
      return -1
    }
    let at = start
    while (at < bytes.length) {
      const byte = bytes[at]
      if (byte === comma || byte === closeBrace || byte === closeBracket || byte === colon || isSpace(byte)) break
      at++
    }
    return at === start ? -1 : this.at = at
  }

  /** Moves past the value that starts here: its bytes, a view of the text (not a copy); `undefined` as `valueEnd`. */
  value(): Uint8Array | undefined {
    const start = this.peek() < 0 ? -1 : this.at
    const end = this.valueEnd()
    return end < 0 ? undefined : this.bytes.subarray(start, end)
  }

  /**
   * Reads the object that starts here, handing each member to `member` with the index of its key in `keys` (-1 for
   * any other key), which reads its value (and says what is wrong with it, if anything). What is wrong with the
   * object, or `undefined`.
   */
  object(keys: ReadonlyArray<Key>, member: (key: number) => string | undefined): string | undefined {
    if (!this.take(openBrace)) return "not an object"
    if (this.take(closeBrace)) return undefined
    for (;;) {
      const key = this.key(keys)
      if (key === undefined) return "a member without a key and a value"
      const wrong = key < 0 ? this.skip() : member(key)
      if (wrong !== undefined) return wrong
      if (this.take(comma)) continue
      return this.take(closeBrace) ? undefined : "an object that does not end"
    }
  }

  /**
   * Reads the array that starts here, `element` reading each element (its index given). What is wrong with it, or
   * `undefined`.
   */
  array(element: (index: number) => string | undefined): string | undefined {
    if (!this.take(openBracket)) return "not an array"
    if (this.take(closeBracket)) return undefined
    for (let index = 0; ; index++) {
      const wrong = element(index)
      if (wrong !== undefined) return wrong
      if (this.take(comma)) continue
      return this.take(closeBracket) ? undefined : "an array that does not end"
    }
  }

  /** Moves past a value, saying what is wrong when there is none. */
  skip(): string | undefined {
    return this.valueEnd() < 0 ? "a value that does not end" : undefined
  }

  /** Whether nothing but white space is left. */
  get ended(): boolean {
    return this.peek() < 0
  }
}

const decoder = new TextDecoder()

/** The string between `start` and `end` (its quotes included), parsed; `undefined` when it is not a JSON string. */
const parseString = (bytes: Uint8Array, start: number, end: number): string | undefined => {
  try {
    return JSON.parse(decoder.decode(bytes.subarray(start, end))) as string
  } catch {
    return undefined
  }
}

/** A value of a JSON text, parsed (for the small parts of an answer that are read, not handed on). */
export const parse = (bytes: Uint8Array): unknown => JSON.parse(decoder.decode(bytes))
