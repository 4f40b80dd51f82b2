/**
 * The live side of the controller: long-polls, event streams and the budget of them
 * each caller may hold open. It knows nothing of the rules; the service says what a
 * caller is waiting for and which changes it may hear.
 */
import { MeshError } from "../contract/errors.ts";
import type { RequestContext } from "./request-context.ts";
import type { Visibility } from "./policy.ts";
import type { Change, Store } from "./store/store.ts";

const EVENT_BATCH = 500;
/** Changes one stream may have waiting to be sent before it is closed. */
const EVENT_QUEUE = 10_000;
const EVENT_HEARTBEAT_MS = 15_000;
/** Waiters woken per turn of the event loop. */
const HAND_OUT_SLICE = 256;
/**
 * Changes are handed out this long after their commit: time for the committer's answer
 * to reach its socket before thousands of waiters take the CPU.
 */
const HAND_OUT_AFTER_MS = 1;

/** Yielded by an event stream when nothing happened for a while, so proxies keep it open. */
export const HEARTBEAT = "heartbeat";

export type EventStream = { changes: AsyncGenerator<Change | typeof HEARTBEAT>; close: () => void };

/** Which changes a caller may hear: the rule itself, and the same rule as the store filters by (undefined: all). */
export type Hearing = { hears: (change: Change) => boolean; hearer: Visibility | undefined };

/** Resolves once: when called, when `ms` pass, or when `signal` aborts. */
function settleOnce(resolve: () => void, ms: number, signal?: AbortSignal): () => void {
  const timer = setTimeout(finish, ms);
  signal?.addEventListener("abort", finish, { once: true });
  function finish() {
    clearTimeout(timer);
    signal?.removeEventListener("abort", finish);
    resolve();
  }
  return finish;
}

/** Someone waiting on the live side: what concerns it, and what to do when such a change is committed. */
type Waiter = { relevant: (change: Change) => boolean; hear: (change: Change) => void };

/**
 * Which changes a waiter can care about, so a change is shown only to the waiters filed
 * under what it names: a hearer's (the subject and roles mayHear looks at; undefined,
 * an admin, hears every change), or one task's or one approval's. `relevant` still decides.
 */
export type Filing = { hearer: Visibility | undefined } | { task: string } | { approval: string };

/** The index keys of a filing, or null for every change. */
export function filedUnder(filing: Filing): string[] | null {
  if ("task" in filing) return [`task ${filing.task}`];
  if ("approval" in filing) return [`approval ${filing.approval}`];
  const { hearer } = filing;
  return hearer ? [`subject ${hearer.subject}`, ...hearer.roles.map((role) => `role ${role}`)] : null;
}

/** The index keys a change names: whom it is from and for (mayHear), its task and parent, its approval. */
export function namedBy(c: Change): string[] {
  const keys = [`subject ${c.source}`, `role ${c.target}`, `task ${c.task_id}`];
  if (c.approver_role !== null) keys.push(`role ${c.approver_role}`);
  if (c.parent_task_id !== null) keys.push(`task ${c.parent_task_id}`);
  if (c.approval_id !== null) keys.push(`approval ${c.approval_id}`);
  return keys;
}

export class Live {
  readonly #store: Store;
  readonly #maxWaitsPerCaller: number;
  readonly #waits = new Map<string, number>();
  /** Waiters by the keys they are filed under, and those that hear every change. */
  readonly #filed = new Map<string, Set<Waiter>>();
  readonly #hearingAll = new Set<Waiter>();
  #waiterCount = 0;
  #unsubscribe: (() => void) | null = null;
  /** Changes committed but not yet handed to the waiters. */
  #heard: Change[] = [];
  #handingOut = false;
  /**
   * Re-checks started since the last hand-out, by what they read: waiters woken together
   * that ask the same thing share one read, begun after the changes that woke them.
   */
  #rechecks = new Map<string, Promise<unknown>>();

  constructor(store: Store, { maxWaitsPerCaller }: { maxWaitsPerCaller: number }) {
    this.#store = store;
    this.#maxWaitsPerCaller = maxWaitsPerCaller;
  }

  /** Long-polls and event streams open now, for /metrics. */
  get openWaits(): number {
    let open = 0;
    for (const n of this.#waits.values()) open += n;
    return open;
  }

  /**
   * A list read once; when it finds nothing and the caller asked to wait (`seconds`),
   * read again on each relevant change until it finds something or the time is up.
   * Waiters whose reads have the same `key` (everything the read depends on) share them.
   */
  async readOrWait<T>(
    ctx: RequestContext,
    seconds: number | undefined,
    read: () => Promise<T[]>,
    filing: Filing,
    relevant: (c: Change) => boolean,
    key: string,
  ): Promise<T[]> {
    const rows = await read();
    if (rows.length > 0 || !seconds) return rows;
    const found = await this.wait(
      ctx,
      seconds,
      async () => {
        const again = await read();
        return again.length ? again : null;
      },
      filing,
      relevant,
      key,
    );
    return found ?? [];
  }

  /**
   * Waits until `check` finds something, re-checking only when a relevant change is
   * committed (by this controller or, on PostgreSQL, another), the time is up, or the
   * client has gone. Listening starts before the first check, so no change slips by.
   * Re-checks of waiters woken together with the same `key` are one read.
   */
  async wait<T>(
    ctx: RequestContext,
    seconds: number,
    check: () => Promise<T | null>,
    filing: Filing,
    relevant: (c: Change) => boolean,
    key: string,
  ): Promise<T | null> {
    const release = this.#holdSlot(ctx.caller.subject);
    let wake: () => void = () => {};
    let dirty = false;
    const leave = this.#join(filing, {
      relevant,
      hear: () => {
        dirty = true;
        wake();
      },
    });
    const deadline = Math.min(Date.now() + seconds * 1000, ctx.expiresAt ?? Infinity);
    try {
      // Woken by a change: the read may be shared; first, or at the deadline, it is the waiter's own.
      for (let woken = false; ; woken = dirty) {
        dirty = false;
        const found = woken ? await this.#recheck(key, check) : await check();
        if (found !== null) return found;
        const left = deadline - Date.now();
        if (left <= 0 || ctx.signal?.aborted) return null;
        if (dirty) continue;
        await new Promise<void>((resolve) => {
          wake = settleOnce(resolve, left, ctx.signal);
        });
      }
    } finally {
      leave();
      release();
    }
  }

  /** One read per `key` among the waiters woken by the same hand-out. */
  #recheck<T>(key: string, check: () => Promise<T | null>): Promise<T | null> {
    let shared = this.#rechecks.get(key) as Promise<T | null> | undefined;
    if (!shared) {
      shared = check();
      this.#rechecks.set(key, shared);
    }
    return shared;
  }

  /** Adds a waiter; the store is listened to only while someone waits. The function returned removes it. */
  #join(filing: Filing, waiter: Waiter): () => void {
    const keys = filedUnder(filing);
    if (keys === null) this.#hearingAll.add(waiter);
    for (const key of keys ?? []) {
      let filed = this.#filed.get(key);
      if (!filed) this.#filed.set(key, (filed = new Set()));
      filed.add(waiter);
    }
    this.#waiterCount++;
    this.#unsubscribe ??= this.#store.onChange((change) => {
      // Handed out once the committer's own answer is on its way, not on its path.
      if (this.#heard.push(change) === 1 && !this.#handingOut) setTimeout(() => void this.#handOut(), HAND_OUT_AFTER_MS);
    });
    return () => {
      this.#hearingAll.delete(waiter);
      for (const key of keys ?? []) {
        const filed = this.#filed.get(key);
        filed?.delete(waiter);
        if (filed?.size === 0) this.#filed.delete(key);
      }
      if (--this.#waiterCount === 0) {
        this.#unsubscribe?.();
        this.#unsubscribe = null;
        this.#rechecks = new Map();
      }
    };
  }

  /**
   * Hands the changes heard so far to the waiters they concern, in order, a slice of
   * waiters per turn of the event loop: what the woken do next (reads, answers, stream
   * writes) then interleaves with other requests instead of holding them all up.
   */
  async #handOut() {
    this.#handingOut = true;
    try {
      while (this.#heard.length) {
        const changes = this.#heard;
        this.#heard = [];
        // Reads begun before these changes were committed may not see them: woken waiters read afresh.
        this.#rechecks = new Map();
        const told: [Waiter, Change][] = [];
        for (const change of changes) {
          // Only the waiters filed under what the change names; one filed twice is asked once.
          const asked = new Set(this.#hearingAll);
          for (const key of namedBy(change)) for (const waiter of this.#filed.get(key) ?? []) asked.add(waiter);
          for (const waiter of asked) {
            try {
              if (waiter.relevant(change)) told.push([waiter, change]);
            } catch {
              // One waiter's fault must not keep the change from the others.
            }
          }
        }
        for (let i = 0; i < told.length; i += HAND_OUT_SLICE) {
          if (i > 0) await new Promise((resolve) => setImmediate(resolve));
          for (const [waiter, change] of told.slice(i, i + HAND_OUT_SLICE)) waiter.hear(change);
        }
      }
    } finally {
      this.#handingOut = false;
    }
  }

  /**
   * Opens a stream of the changes the caller may hear. The caller's budget is charged
   * now, so one stream too many is a 429 before anything is sent; `close` gives the
   * slot back even if the stream was never read.
   */
  openEvents(ctx: RequestContext, afterSeq: number | null, hearing: Hearing): EventStream {
    const hold = this.#holdSlot(ctx.caller.subject);
    let held = true;
    const close = () => {
      if (held) hold();
      held = false;
    };
    return { changes: this.#events(ctx, afterSeq, hearing, close), close };
  }

  /**
   * First the changes after `afterSeq` from the audit trail (a reconnecting client
   * misses nothing), then live ones; with `afterSeq` null, live ones only. Listening
   * starts before the replay so nothing falls between the two. Both engines deliver
   * changes in `seq` order, so one position is all the de-duplication needed. The
   * replay is filtered in the database, so it reads only what the caller may hear.
   */
  async *#events(ctx: RequestContext, afterSeq: number | null, { hears, hearer }: Hearing, close: () => void): AsyncGenerator<Change | typeof HEARTBEAT> {
    const live: Change[] = [];
    let overflowed = false;
    let wake: () => void = () => {};
    const unsubscribe = this.#join(
      { hearer },
      {
        relevant: hears,
        hear: (c) => {
          if (live.length >= EVENT_QUEUE) overflowed = true;
          else live.push(c);
          wake();
        },
      },
    );
    let upTo = afterSeq ?? -1;
    let nextCheck = Date.now() + EVENT_HEARTBEAT_MS;
    try {
      for (let replaying = afterSeq !== null; replaying; ) {
        const batch = await this.#store.changesSince(upTo, EVENT_BATCH, hearer);
        for (const change of batch) {
          upTo = change.seq;
          yield change;
        }
        replaying = batch.length === EVENT_BATCH;
      }
      for (;;) {
        for (let change = live.shift(); change; change = live.shift()) {
          if (change.seq <= upTo) continue;
          upTo = change.seq;
          yield change;
        }
        // A reader too slow to keep up is let go; it resumes with Last-Event-ID. So is one whose token or session ran out.
        const left = (ctx.expiresAt ?? Infinity) - Date.now();
        if (overflowed || ctx.signal?.aborted || left <= 0) return;
        if (Date.now() >= nextCheck) {
          // A person who signed out (here or through another controller) stops hearing within a heartbeat.
          if (ctx.stillSignedIn && !(await ctx.stillSignedIn())) return;
          nextCheck = Date.now() + EVENT_HEARTBEAT_MS;
        }
        await new Promise<void>((resolve) => {
          wake = settleOnce(resolve, Math.min(EVENT_HEARTBEAT_MS, left), ctx.signal);
        });
        if (live.length === 0 && !overflowed) yield HEARTBEAT;
      }
    } finally {
      unsubscribe();
      close();
    }
  }

  /** Long-polls and event streams share one budget per caller. */
  #holdSlot(subject: string): () => void {
    const open = this.#waits.get(subject) ?? 0;
    if (open >= this.#maxWaitsPerCaller) {
      throw new MeshError("rate_limited", `You already have ${open} long-polls or event streams open; close one first.`);
    }
    this.#waits.set(subject, open + 1);
    return () => {
      const left = (this.#waits.get(subject) ?? 1) - 1;
      if (left === 0) this.#waits.delete(subject);
      else this.#waits.set(subject, left);
    };
  }
}
