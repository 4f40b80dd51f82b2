/** The privacy guard's detectors, checked against published example formats, and its failing closed. */
import { describe, expect, test } from "bun:test";
import { ibanValid, luhnValid, spanishIdValid, ssnValid } from "../../src/controller/privacy/checksums.ts";
import { PrivacyGuard } from "../../src/controller/privacy/guard.ts";
import { MeshError } from "../../src/contract/errors.ts";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { MeshService } from "../../src/controller/service.ts";
import { SqliteStore } from "../../src/controller/store/sqlite.ts";
import { tempDir } from "../support/controller.ts";

describe("check digits", () => {
  test("Luhn: the card networks' published test numbers pass, one changed digit fails", () => {
    for (const n of ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]) expect(luhnValid(n)).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
  });
  test("IBAN: ISO 13616's and the registry's examples pass, a changed digit fails", () => {
    for (const n of ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606", "NL91ABNA0417164300"]) expect(ibanValid(n)).toBe(true);
    expect(ibanValid("GB82WEST12345698765433")).toBe(false);
  });
  test("Spanish DNI and NIE check letters; US SSN issuing rules", () => {
    expect(spanishIdValid("12345678Z")).toBe(true);
    expect(spanishIdValid("X1234567L")).toBe(true);
    expect(spanishIdValid("12345678A")).toBe(false);
    expect(ssnValid("123", "45", "6789")).toBe(true);
    expect(ssnValid("666", "45", "6789")).toBe(false);
    expect(ssnValid("123", "00", "6789")).toBe(false);
  });
});

const failing = () =>
  new PrivacyGuard({ mode: "mask", kindsOff: [], patterns: {}, exempt: [] }, [
    {
      kind: "BROKEN",
      find: () => {
        throw new Error("rule set failed to load");
      },
    },
  ]);

const guard = (mode: "mask" | "reject", more: Partial<ConstructorParameters<typeof PrivacyGuard>[0]> = {}) =>
  new PrivacyGuard({ mode, kindsOff: [], patterns: {}, exempt: [], ...more });

describe("the guard", () => {
  test("runs of digits that fail their check (a phone-less id, a timestamp, a bad card) are left alone", async () => {
    const text = "build 20261202 commit 8bf99e9 order 4111111111111112 at 2026-12-02T01:20:33Z, PR 42";
    expect(await guard("mask").screen({ description: text })).toEqual({ fields: { description: text }, masked: [] });
  });

  test("exempt paths, kinds switched off and the operator's own patterns", async () => {
    const g = guard("mask", { exempt: ["context.author"], kindsOff: ["PHONE"], patterns: { EMPLOYEE_ID: "\\bE\\d{6}\\b" } });
    const { fields, masked } = await g.screen({ context: { author: "ann@example.com", who: "E123456, +1 415 555 2671" } });
    expect(fields).toEqual({ context: { author: "ann@example.com", who: "[EMPLOYEE_ID], +1 415 555 2671" } });
    expect(masked).toEqual([{ field: "context.who", kind: "EMPLOYEE_ID", count: 1 }]);
  });

  test("fails closed: a detector that throws is an error, and no screened value comes back", async () => {
    const error = await failing()
      .screen({ description: "hello" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(MeshError);
    expect(error.kind).toBe("internal");
    expect(error.message).toContain("nothing was stored");
  });
});

test("a controller whose guard cannot scan stores nothing and says so", async () => {
  const dir = tempDir("mesh-privacy-");
  const store = new SqliteStore(join(dir, "mesh.db"));
  try {
    const service = new MeshService(store, {
      idempotencyTtlSeconds: 3600,
      idempotencyKeysPerCaller: 100,
      idempotencyRetryWindowSeconds: 60,
      maxWaitsPerCaller: 4,
      leaseSeconds: 300,
      maxOpenApprovalsPerTask: 4,
      privacy: failing(),
    });
    const ctx = { caller: { subject: "alice", roles: new Set<string>(), isAdmin: false }, traceId: "t", idempotencyKey: "k" };
    const error = await service.routeTask(ctx, { target: "worker", task: { task_type: "t", description: "hello" } }).catch((e) => e);
    expect(error).toBeInstanceOf(MeshError);
    expect(error.message).toStartWith("The privacy guard could not scan this request (rule set failed to load), so nothing was stored");
    expect(await store.listTasks({ order: "asc", limit: 10 })).toEqual([]);
    expect(await store.listAudit({ limit: 10 })).toEqual([]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
