/**
 * Minimal type declarations for the untyped PouchDB / express-pouchdb modules
 * used by the embedded test server. Only what `embedded.ts` touches is declared.
 */

declare module "pouchdb-core" {
  /** A PouchDB change as emitted by `db.changes()`. */
  export interface PouchChange {
    readonly id: string
    readonly seq: number | string
    readonly changes: ReadonlyArray<{ readonly rev: string }>
    readonly deleted?: boolean
    readonly doc?: unknown
  }

  /** The result of a one-shot `db.changes()`. */
  export interface PouchChangesResult {
    readonly results: ReadonlyArray<PouchChange>
    readonly last_seq: number | string
  }

  /** The event emitter returned by `db.changes()` (also a promise of the result). */
  export interface PouchChangesFeed extends PromiseLike<PouchChangesResult> {
    on(event: "change", listener: (change: PouchChange) => void): this
    on(event: "complete", listener: (info: unknown) => void): this
    on(event: "error", listener: (error: unknown) => void): this
    cancel(): void
  }

  /** A PouchDB database object (only the used methods). */
  export interface PouchDatabase {
    readonly name: string
    get(id: string, options?: Record<string, unknown>): Promise<Record<string, unknown>>
    put(doc: Record<string, unknown>, options?: Record<string, unknown>): Promise<{ readonly id: string; readonly rev: string }>
    info(): Promise<{ readonly update_seq: number | string; readonly db_name: string }>
    changes(options: Record<string, unknown>): PouchChangesFeed
    revsDiff(revisions: Record<string, unknown>): Promise<Record<string, unknown>>
    getSecurity(): Promise<unknown>
    destroy(): Promise<unknown>
    close(): Promise<unknown>
  }

  /** The PouchDB constructor (only the used statics). */
  export interface PouchDBStatic {
    new(name: string, options?: Record<string, unknown>): PouchDatabase
    plugin(plugin: unknown): PouchDBStatic
    defaults(options: Record<string, unknown>): PouchDBStatic
    listeners(event: string): Array<(...args: ReadonlyArray<unknown>) => void>
    removeListener(event: string, listener: (...args: ReadonlyArray<unknown>) => void): void
    allDbs?: () => Promise<Array<string>>
  }

  const PouchDB: PouchDBStatic
  export default PouchDB
}

declare module "pouchdb-adapter-memory" {
  const plugin: unknown
  export default plugin
}

declare module "pouchdb-adapter-http" {
  const plugin: unknown
  export default plugin
}

declare module "pouchdb-mapreduce" {
  const plugin: unknown
  export default plugin
}

declare module "pouchdb-replication" {
  const plugin: unknown
  export default plugin
}

declare module "express-pouchdb" {
  import type { RequestHandler } from "express"
  import type { PouchDBStatic } from "pouchdb-core"

  /** One entry of an express 4 router stack. */
  export interface RouterLayer {
    readonly name: string
    readonly route?: { readonly path: string }
  }

  /** The express-pouchdb configuration store. */
  export interface CouchConfig {
    set(section: string, key: string, value: string, callback: (error: unknown) => void): void
    get(section: string, key: string): unknown
    registerDefault(section: string, key: string, value: unknown): void
  }

  /** The express (sub-)application returned by express-pouchdb. */
  export interface ExpressPouchDBApp extends RequestHandler {
    readonly _router: { readonly stack: Array<RouterLayer> }
    readonly couchConfig: CouchConfig
    readonly daemonManager: { stop(PouchDB: PouchDBStatic): Promise<unknown> }
    setPouchDB(PouchDB: PouchDBStatic): Promise<unknown>
    set(setting: string, value: unknown): unknown
    use(...handlers: ReadonlyArray<RequestHandler>): unknown
    get(path: string, ...handlers: ReadonlyArray<RequestHandler>): unknown
    post(path: string, ...handlers: ReadonlyArray<RequestHandler>): unknown
  }

  /** express-pouchdb options. */
  export interface ExpressPouchDBOptions {
    readonly mode?: "fullCouchDB" | "minimumForPouchDB" | "custom"
    readonly inMemoryConfig?: boolean
    readonly configPath?: string
    readonly logPath?: string
    readonly overrideMode?: {
      readonly include?: Array<string>
      readonly exclude?: Array<string>
    }
  }

  const expressPouchDB: (options: ExpressPouchDBOptions) => ExpressPouchDBApp
  export default expressPouchDB
}

declare module "express-pouchdb/lib/utils.js" {
  import type { Request, Response } from "express"

  /** express-pouchdb's shared helpers (only the patched one). */
  export interface ExpressPouchDBUtils {
    sendError: (res: Response, error: unknown, baseStatus?: number) => void
    parseRawBody: (req: Request, res: Response, next: (error?: unknown) => void) => void
    /** The options PouchDB's validation needs (user context, security object) for a request. */
    makeOpts: (req: Request, startOpts?: Record<string, unknown>) => Record<string, unknown>
  }

  const utils: ExpressPouchDBUtils
  export default utils
}
