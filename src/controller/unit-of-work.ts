/**
 * The idempotent unit of work: a change, its audit rows and the record of its answer
 * commit in one transaction, so a retry that carries the same Idempotency-Key gets the
 * first answer back instead of doing the work twice (ADR 0001, point 5). What is kept
 * of an answer, and how many keys a caller may have kept, is ADR 0003.
 */
import { sha256Hex } from "../lib/digest.ts";
import { MeshError } from "../contract/errors.ts";
import type { JsonObject } from "../contract/schemas.ts";
import type { RequestContext } from "./request-context.ts";
import type { Store, StoreTx } from "./store/store.ts";

/** What is kept of an answer for a replay, and how the answer is made again from it. */
export type Keeping<T> = { keep: (answer: T) => JsonObject; restore: (kept: JsonObject, tx: StoreTx) => Promise<T> };

/** For answers of bounded size that a caller cannot repeat at will (a new task's ids, a decision made once): kept as they are. */
export const keptWhole = <T extends JsonObject>(): Keeping<T> => ({ keep: (answer) => answer, restore: async (kept) => kept as T });

export type UnitOfWorkOptions = {
  /** How long an Idempotency-Key is remembered. */
  ttlSeconds: number;
  /** Keys remembered per caller; past it the oldest are forgotten, once older than `retryWindowSeconds`. */
  keysPerCaller: number;
  /** How long a key is surely kept, whatever the budget: longer than any client retries with it. */
  retryWindowSeconds: number;
  now: () => Date;
};

/** Stable JSON: key order must not make two equal requests look different. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );

/**
 * Finding a caller's oldest keys walks its newest `keysPerCaller` first, so the budget
 * is looked at once per this share of it per caller (ADR 0003, point 4): a caller may
 * pass its budget by at most that many keys per controller.
 */
const BUDGET_LOOK_SHARE = 0.01;
/** Callers whose new keys are counted between looks; past it the counts start again (each caller's next key looks). */
const COUNTED_CALLERS = 10_000;

export class UnitsOfWork {
  readonly #store: Store;
  readonly #options: UnitOfWorkOptions;
  /** New keys per caller since its budget was last looked at, on this controller. */
  readonly #sinceLook = new Map<string, number>();
  #replays = 0;

  constructor(store: Store, options: UnitOfWorkOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** Requests answered from an Idempotency-Key record, for /metrics. */
  get replays(): number {
    return this.#replays;
  }

  /**
   * Runs `work` in one transaction together with its audit rows and, when the caller
   * sent an Idempotency-Key, what `keeping` keeps of its answer: a replay gets that answer back.
   */
  run<T extends JsonObject>(
    ctx: RequestContext,
    operation: string,
    input: unknown,
    keeping: Keeping<T>,
    work: (tx: StoreTx, now: string) => Promise<T>,
  ): Promise<T> {
    let lookedAt: string | undefined;
    const unit = this.#store.transaction(async (tx) => {
      const now = this.#options.now().toISOString();
      const key = ctx.idempotencyKey;
      if (key === undefined) return work(tx, now);
      const scope = ctx.caller.subject;
      const hash = sha256Hex(canonical({ operation, input }));
      const expires = new Date(Date.parse(now) + this.#options.ttlSeconds * 1000).toISOString();
      const reservation = await tx.reserveIdempotency(scope, key, hash, now, expires);
      if (reservation.kind === "replay") {
        if (reservation.request_hash !== hash) {
          throw new MeshError("idempotency_mismatch", `Idempotency-Key ${key} was first used with a different request; use a new key for a new request.`);
        }
        this.#replays++;
        return keeping.restore(reservation.response, tx);
      }
      const budget = await this.#budget(tx, scope, now);
      if (budget === "looked") lookedAt = scope;
      if (budget === "over") {
        throw new MeshError(
          "rate_limited",
          `You sent more than ${this.#options.keysPerCaller} requests with an Idempotency-Key in the last ${this.#options.retryWindowSeconds} s, the most one caller may (MESH_IDEMPOTENCY_KEYS_PER_CALLER); slow down and retry.`,
        );
      }
      const result = await work(tx, now);
      await tx.saveIdempotentResponse(scope, key, keeping.keep(result));
      return result;
    });
    // Counted from a look only once it committed: a rolled-back look forgot nothing.
    return unit.then((result) => {
      if (lookedAt !== undefined) this.#looked(lookedAt);
      return result;
    });
  }

  /**
   * Forgets the caller's keys past its budget when it is time to look: "looked" when
   * it did, "over" when none may go yet, "counted" when it was not time.
   */
  async #budget(tx: StoreTx, scope: string, now: string): Promise<"looked" | "over" | "counted"> {
    const { keysPerCaller, retryWindowSeconds } = this.#options;
    const since = this.#sinceLook.get(scope);
    if (since !== undefined && since + 1 < keysPerCaller * BUDGET_LOOK_SHARE) {
      this.#sinceLook.set(scope, since + 1);
      return "counted";
    }
    const protectedFrom = new Date(Date.parse(now) - retryWindowSeconds * 1000).toISOString();
    return (await tx.forgetOldestKeys(scope, keysPerCaller, protectedFrom)) ? "looked" : "over";
  }

  #looked(scope: string) {
    if (this.#sinceLook.size >= COUNTED_CALLERS) this.#sinceLook.clear();
    this.#sinceLook.set(scope, 0);
  }
}
