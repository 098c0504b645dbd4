/**
 * What the read-modify-write helpers (`modify`, `ensureView`) of one session share: a turn per document, so that
 * the session's own writers of one document never race each other, and each database's number of copies, so that
 * their reads and writes on a cluster can ask every copy.
 *
 * Why turns: on a cluster two writers that read the same revision and write the same body write the same revision
 * id (CouchDB hashes the parent and the body), each on some copies; nothing in the answers or the revision tree
 * tells the two writes apart, and one change is lost. Writers of one session take turns instead; writers of
 * different sessions are left to the quorum (see `settle` in `database.ts`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** A document's turn: its semaphore, and how many fibers hold or wait for it (the entry goes with the last). */
interface Turn {
  readonly semaphore: Effect.Semaphore
  waiting: number
}

/** One session's shared state. */
interface Registry {
  readonly turns: Map<string, Turn>
  readonly copies: Map<string, number>
}

const registries = new WeakMap<object, Registry>()

const registryOf = (owner: object): Registry => {
  let registry = registries.get(owner)
  if (registry === undefined) {
    registry = { turns: new Map(), copies: new Map() }
    registries.set(owner, registry)
  }
  return registry
}

/**
 * Runs `effect` in the turn of `key` among the writers that share `owner` (a session's transport): one at a time,
 * in the order they came. Interruption while waiting or running gives the turn up.
 */
export const inTurn = (owner: object, key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const { turns } = registryOf(owner)
      let turn = turns.get(key)
      if (turn === undefined) {
        turn = { semaphore: Effect.unsafeMakeSemaphore(1), waiting: 0 }
        turns.set(key, turn)
      }
      turn.waiting++
      return turn
    }),
    (turn) => turn.semaphore.withPermits(1)(effect),
    (turn) =>
      Effect.sync(() => {
        turn.waiting--
        if (turn.waiting === 0) registryOf(owner).turns.delete(key)
      })
  )

/**
 * The number of copies (`n`) of the database at `root`, read once per session with `info` (a database's `n` is
 * fixed when it is created); `undefined` for a server that does not say (a single node's `n` is 1, and its info
 * says so), or when `info` fails (asked again next time).
 */
export const copiesOf = <E, R>(
  owner: object,
  root: string,
  info: Effect.Effect<number | undefined, E, R>
): Effect.Effect<number | undefined, never, R> =>
  Effect.suspend(() => {
    const { copies } = registryOf(owner)
    const known = copies.get(root)
    if (known !== undefined) return Effect.succeed(known)
    return info.pipe(
      Effect.tap((n) => Effect.sync(() => n !== undefined && void copies.set(root, n))),
      Effect.orElseSucceed(() => undefined)
    )
  })
