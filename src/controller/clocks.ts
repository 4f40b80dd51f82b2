/**
 * The controller's clocks: leases, deadlines and approval expiries, kept by the
 * controllers themselves. One timer sleeps until the earliest of them is due (asked of
 * the database, so a controller that was down acts at once on what fell due meanwhile);
 * a change that may set an earlier one (this controller's or, on PostgreSQL, another's,
 * through the change feed) wakes it to look again. When it fires, the service acts on
 * everything due, each expiry as its own unit of work; the store hands each due row to
 * one controller only.
 */
import type { EventAction } from "../contract/schemas.ts";
import type { Logger } from "../lib/log.ts";
import type { Change } from "./store/store.ts";

/** Changes that may set a time earlier than the one the timer waits for. */
const SETS_A_TIME: ReadonlySet<EventAction> = new Set([
  "task.created",
  "task.claimed",
  "task.revived",
  "task.answered",
  "approval.requested",
  "approval.escalated",
]);

/** setTimeout holds at most this (about 24.8 days); a later time is looked at again then. */
const LONGEST_SLEEP_MS = 2 ** 31 - 1;
/** After a failure (the database away), look again this much later. */
const AFTER_FAILURE_MS = 1000;
/**
 * When a wake-up found nothing to act on although something is due (another controller
 * holds it and is about to commit), the next look waits this long rather than spin.
 */
const AFTER_NOTHING_MS = 50;
/**
 * Looks start at least this far apart: under a burst of writes one look serves many
 * changes, and a time set by any of them is still acted on when due (leases, deadlines
 * and expiries are seconds away at the least).
 */
const LOOK_SPACING_MS = 20;

export type ClockSource = {
  nextDueAt: () => Promise<string | null>;
  actOnDue: () => Promise<number>;
  onChange: (listener: (change: Change) => void) => () => void;
};

export class Clocks {
  readonly #source: ClockSource;
  readonly #log: Logger;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires (epoch ms), or null when it is not set. */
  #wakeAt: number | null = null;
  #looking: Promise<void> | null = null;
  #lookAgain = false;
  /** When the last look began (performance.now(): a wall clock set back must not hold looks up). */
  #lastLook = Number.NEGATIVE_INFINITY;
  #stopped = false;
  /** The last wake-up acted on nothing. */
  #foundNothing = false;
  #unsubscribe: (() => void) | null = null;

  constructor(source: ClockSource, log: Logger) {
    this.#source = source;
    this.#log = log;
  }

  start() {
    this.#unsubscribe = this.#source.onChange((change) => {
      if (SETS_A_TIME.has(change.action)) this.#look();
    });
    this.#look();
  }

  /** When the timer is set to fire next (epoch ms), for tests and benchmarks. */
  get wakeAt(): number | null {
    return this.#wakeAt;
  }

  /** Asks for the next time due and sets the timer for it; one look at a time, with one more queued if asked meanwhile. */
  #look() {
    if (this.#stopped) return;
    if (this.#looking) {
      this.#lookAgain = true;
      return;
    }
    this.#looking = (async () => {
      do {
        this.#lookAgain = false;
        const wait = this.#lastLook + LOOK_SPACING_MS - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.#stopped) break;
        this.#lastLook = performance.now();
        try {
          const next = await this.#source.nextDueAt();
          this.#set(next === null ? null : Date.parse(next));
        } catch (error) {
          this.#log.warn("could not read when the next lease, deadline or approval expiry is due; trying again", { error: String(error) });
          this.#set(Date.now() + AFTER_FAILURE_MS);
        }
      } while (this.#lookAgain && !this.#stopped);
      this.#looking = null;
    })();
  }

  #set(at: number | null) {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#wakeAt = at;
    if (at === null || this.#stopped) return;
    const soonest = this.#foundNothing ? AFTER_NOTHING_MS : 0;
    this.#timer = setTimeout(() => void this.#fire(), Math.min(Math.max(soonest, at - Date.now()), LONGEST_SLEEP_MS));
  }

  async #fire() {
    this.#timer = null;
    try {
      this.#foundNothing = (await this.#source.actOnDue()) === 0;
    } catch (error) {
      this.#log.warn("could not act on expired leases, deadlines or approvals; trying again", { error: String(error) });
      this.#set(Date.now() + AFTER_FAILURE_MS);
      return;
    }
    this.#look();
  }

  async stop() {
    this.#stopped = true;
    this.#unsubscribe?.();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#looking;
  }
}
