/**
 * Server-Sent Events, parsed as the HTML standard's event stream interpretation says
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation): lines (LF, CRLF or
 * CR, from `lines.ts`), a leading BOM dropped, comments (`:`) ignored, `field: value` with one space after the colon
 * removed, `data` lines joined with LF, `event`, `id` (without NUL) and `retry` (digits only) kept, an event
 * dispatched at a blank line when it has data, and an event the stream ends in the middle of never dispatched.
 */

/** An event of the stream. */
export interface Event {
  /** The event type: `message` unless an `event` field said otherwise. */
  readonly event: string
  /** The `data` lines, joined with LF. */
  readonly data: string
  /** The last event id (it carries over from event to event, as the standard says). */
  readonly id: string
  /** The reconnection time the stream asked for, in milliseconds, if any. */
  readonly retry: number | undefined
}

/** Reads the lines of one event stream: `line` gives the event a line dispatches. */
export interface EventParser {
  readonly line: (line: string) => Event | undefined
}

/** A new parser, for one stream. */
export const eventParser = (): EventParser => {
  let first = true
  let data: Array<string> = []
  let event = ""
  let id = ""
  let retry: number | undefined
  const field = (name: string, value: string): void => {
    switch (name) {
      case "data":
        data.push(value)
        return
      case "event":
        event = value
        return
      case "id":
        if (!value.includes("\u0000")) id = value
        return
      case "retry":
        if (/^[0-9]+$/.test(value)) retry = Number(value)
        return
    }
  }
  return {
    line: (raw) => {
      const line = first && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw
      first = false
      if (line === "") {
        const dispatched = data.length === 0 ? undefined : { event: event === "" ? "message" : event, data: data.join("\n"), id, retry }
        data = []
        event = ""
        return dispatched
      }
      if (line.charCodeAt(0) === 58) return undefined
      const colon = line.indexOf(":")
      if (colon === -1) field(line, "")
      else field(line.slice(0, colon), line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1))
      return undefined
    }
  }
}
