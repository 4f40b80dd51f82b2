/**
 * The key budget's looks (ADR 0003, point 4) on a real store of each engine: a look
 * that rolls back forgot nothing, so the next key looks again.
 */
import { describe, expect, test } from "bun:test";
import type { StoreTx } from "../../src/controller/store/store.ts";
import { keptWhole, UnitsOfWork } from "../../src/controller/unit-of-work.ts";
import { ENGINES, storeOn } from "../store/engines.ts";

for (const engine of ENGINES) {
  describe(`key budget: ${engine.name}`, () => {
    const opened = storeOn(engine);

    test("a look at the budget counts only once its unit of work commits", async () => {
      const looks: string[] = [];
      const store = opened.store;
      // The real store, with its units' budget looks noted.
      const noting = {
        ...store,
        transaction: <T>(work: (tx: StoreTx) => Promise<T>) =>
          store.transaction((tx) =>
            work({
              ...tx,
              forgetOldestKeys: (scope, keep, protectedFrom) => {
                looks.push(scope);
                return tx.forgetOldestKeys(scope, keep, protectedFrom);
              },
            }),
          ),
      } as typeof store;
      const units = new UnitsOfWork(noting, { ttlSeconds: 3600, keysPerCaller: 1000, retryWindowSeconds: 60, now: () => new Date() });
      const ctx = (key: string) => ({ caller: { subject: "sam", roles: new Set<string>(), isAdmin: false }, traceId: "t", idempotencyKey: key });
      const run = (key: string, fail: boolean) =>
        units.run(ctx(key), "op", { key }, keptWhole(), async () => {
          if (fail) throw new Error("rolled back");
          return { ok: true };
        });

      await expect(run("k1", true)).rejects.toThrow("rolled back");
      await expect(run("k2", true)).rejects.toThrow("rolled back");
      expect(looks).toEqual(["sam", "sam"]);
      await run("k3", false);
      // Looked and committed: the next ten keys of a 1,000-key budget need no look.
      for (let i = 4; i < 13; i++) await run(`k${i}`, false);
      expect(looks).toHaveLength(3);
      await run("k13", false);
      expect(looks).toHaveLength(4);
    });
  });
}
