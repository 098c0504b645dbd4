/**
 * The line splitter of continuous feeds and the Server-Sent Events parser of eventsource feeds, over bodies cut
 * anywhere: between the bytes of a character, between the CR and the LF of a CRLF, in the middle of a field.
 */
import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import * as Lines from "../src/internal/lines.js"
import * as Sse from "../src/internal/sse.js"

const encoder = new TextEncoder()

/** The bytes of `text`, cut at the given fractions of its length (any byte boundary, inside characters too). */
const pieces = (text: string, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const bytes = encoder.encode(text)
  const at = [...new Set(cuts.map((cut) => Math.floor(cut * bytes.length)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let from = 0
  for (const to of [...at, bytes.length]) {
    out.push(bytes.subarray(from, to))
    from = to
  }
  return out
}

/** Every line of a body pushed in pieces, one piece a push, then its end. */
const split = (body: ReadonlyArray<Uint8Array>): Array<string> => {
  const splitter = Lines.lineSplitter()
  const lines = body.flatMap((piece) => splitter.push([piece]))
  return [...lines, ...splitter.end()]
}

/** Text without line ends: any characters (astral and multibyte ones too) but CR and LF. */
const lineText = FastCheck.string({ unit: "grapheme", maxLength: 12 }).map((text) => text.replace(/[\r\n]/g, ""))
const lineEnd = FastCheck.constantFrom("\n", "\r\n", "\r")
const cuts = FastCheck.array(FastCheck.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 })

describe("line splitter", () => {
  it.prop("gives the same lines however the body is cut, whatever the line ends", [
    FastCheck.array(FastCheck.tuple(lineText, lineEnd), { maxLength: 20 }),
    FastCheck.option(lineText, { nil: undefined }),
    cuts
  ], ([written, last, at]) => {
    // a lone CR followed by a LF is a CRLF: write such a CR as a CRLF
    const lines = written.map(([text, end], i): readonly [string, string] => {
      const next = written[i + 1]
      const nextStartsWithLF = next === undefined ? false : (next[0] + next[1]).startsWith("\n")
      return end === "\r" && nextStartsWithLF ? [text, "\r\n"] : [text, end]
    })
    const body = lines.map(([text, end]) => text + end).join("") + (last ?? "")
    const expected = [...lines.map(([text]) => text), ...(last === undefined || last === "" ? [] : [last])]
    assert.deepStrictEqual(split(pieces(body, at)), expected)
  })

  it("keeps a character whose bytes are split, and a CRLF split between pieces is one line end", () => {
    const body = encoder.encode("é𝄞\r\nb")
    assert.deepStrictEqual(split([body.subarray(0, 1), body.subarray(1, 3), body.subarray(3, 6), body.subarray(6)]), ["é𝄞", "b"])
    assert.deepStrictEqual(split([encoder.encode("a\r"), encoder.encode("\nb\r"), encoder.encode("\r\n")]), ["a", "b", ""])
    assert.deepStrictEqual(split([encoder.encode("a\r"), new Uint8Array(0), encoder.encode("\n")]), ["a"])
  })
})

/** An event as the generator writes it, and as the parser must give it. */
interface Written {
  readonly event: string | undefined
  readonly data: ReadonlyArray<string>
  readonly id: string | undefined
  readonly comments: ReadonlyArray<string>
}

const fieldValue = lineText.map((text) => text.replace(/^\uFEFF/, ""))
const written: FastCheck.Arbitrary<Written> = FastCheck.record({
  event: FastCheck.option(FastCheck.constantFrom("message", "heartbeat", "update"), { nil: undefined }),
  data: FastCheck.array(fieldValue, { maxLength: 3 }),
  id: FastCheck.option(fieldValue.map((text) => text.split("\u0000").join("")), { nil: undefined }),
  comments: FastCheck.array(fieldValue, { maxLength: 2 })
})

/** The event stream of these events, with this line end, a space after the colon or not. */
const eventStream = (events: ReadonlyArray<Written>, end: string, space: boolean, bom: boolean): string =>
  (bom ? "\uFEFF" : "") + events.map((event) =>
    [
      ...event.comments.map((comment) => `:${comment}`),
      ...(event.event === undefined ? [] : [`event:${space ? " " : ""}${event.event}`]),
      ...event.data.map((line) => `data:${space ? " " : ""}${line}`),
      ...(event.id === undefined ? [] : [`id:${space ? " " : ""}${event.id}`]),
      ""
    ].map((line) => line + end).join("")
  ).join("")

const parse = (body: ReadonlyArray<Uint8Array>): Array<Sse.Event> => {
  const parser = Sse.eventParser()
  return split(body).flatMap((line) => {
    const event = parser.line(line)
    return event === undefined ? [] : [event]
  })
}

describe("Server-Sent Events", () => {
  it.prop("parses events however the stream is cut: LF, CRLF or CR, multi-line data, comments, ids, a BOM", [
    FastCheck.array(written, { maxLength: 8 }),
    lineEnd,
    FastCheck.boolean(),
    FastCheck.boolean(),
    cuts
  ], ([events, end, space, bom, at]) => {
    // written right after the colon, a value's own leading space is read as the syntax's one space
    const read = (value: string) => space ? value : value.replace(/^ /, "")
    let id = ""
    const expected = events.flatMap((event) => {
      if (event.id !== undefined) id = read(event.id)
      // an event without data is not dispatched (its id still counts)
      return event.data.length === 0 ?
        [] :
        [{ event: event.event ?? "message", data: event.data.map(read).join("\n"), id, retry: undefined }]
    })
    assert.deepStrictEqual(parse(pieces(eventStream(events, end, space, bom), at)), expected)
  })

  it("follows the standard's examples: retry, a field without colon, a stream that ends mid-event", () => {
    const stream = "retry: 1500\ndata\ndata:  two spaces\n\nid: 7\u0000x\nevent: ping\ndata: x\n\n: only a comment\n\ndata: cut"
    assert.deepStrictEqual(parse([encoder.encode(stream)]), [
      { event: "message", data: "\n two spaces", id: "", retry: 1500 },
      { event: "ping", data: "x", id: "", retry: 1500 }
    ])
  })
})
