/**
 * The privacy guard's cost (issue 19): POST /tasks/route p50 for a typical 4 KiB task
 * with MESH_PRIVACY_MODE=off and =mask, two controllers in this run, requests
 * alternating between them so both see the same machine. Target: mask within 10 % of off.
 */
import { PrivacyGuard } from "../src/controller/privacy/guard.ts";
import { createTestDatabase, type TestDatabase } from "../tests/postgres/database.ts";
import { startTestController, type TestController } from "../tests/support/controller.ts";
import type { BenchContext } from "./lib/context.ts";
import { ms, type SectionResult, type Table, type Target } from "./lib/report.ts";
import { summarize, timed } from "./lib/stats.ts";

/** About 4 KiB as agents send them: a description, file names, a diff summary, review notes; nothing to mask. */
export function typicalTask(i: number) {
  const files = Array.from({ length: 40 }, (_, f) => `src/payments/client/retry-policy-${f}.ts`);
  const notes = Array.from({ length: 16 }, (_, n) => ({
    line: 40 + n * 7,
    note: `Check the backoff cap on attempt ${n}; the jitter should stay under 250 ms.`,
  }));
  return {
    target: "bench-worker",
    task: {
      task_type: "code_review",
      description: `Review PR ${i}: retry logic in the payment client. ${"The change moves retries behind a policy object and adds jitter. ".repeat(12)}`,
      data: { repo: "acme/payments", pr: i, files, notes, labels: ["payments", "retries", "needs-review"] },
    },
    context: { conversation: "c-7f3a", ticket: "PAY-1234", branch: "feature/retry-policy" },
  };
}

export async function privacy(ctx: BenchContext): Promise<SectionResult> {
  const tables: Table[] = [];
  const targets: Target[] = [];
  const data: Record<string, unknown> = {};
  const bytes = JSON.stringify(typicalTask(0)).length;

  // The guard alone, per call, for where the time goes.
  const guard = new PrivacyGuard({ mode: "mask", kindsOff: [], patterns: {}, exempt: [] });
  const sample = typicalTask(0);
  const screen = () => guard.screen({ "task.description": sample.task.description, "task.data": sample.task.data, context: sample.context });
  for (let i = 0; i < 100; i++) await screen();
  const alone: number[] = [];
  for (let i = 0; i < ctx.config.calls; i++) alone.push(await timed(screen));
  data.guardAlone = summarize(alone);

  for (const engine of ctx.config.engines) {
    const pg: TestDatabase[] = [];
    const envFor = async (): Promise<Record<string, string>> => {
      if (engine === "sqlite") return {};
      const db = await createTestDatabase({ adminUrl: ctx.config.postgresUrl, prefix: "mesh_bench" });
      pg.push(db);
      return { MESH_DATABASE_URL: db.url() };
    };
    const controllers: Record<"off" | "mask", TestController> = {
      off: await startTestController({ ...(await envFor()), MESH_PRIVACY_MODE: "off", MESH_LOG_LEVEL: "error" }),
      mask: await startTestController({ ...(await envFor()), MESH_PRIVACY_MODE: "mask", MESH_LOG_LEVEL: "error" }),
    };
    try {
      const tokens = { off: await controllers.off.token("bench"), mask: await controllers.mask.token("bench") };
      const samples: Record<"off" | "mask", number[]> = { off: [], mask: [] };
      const warmup = Math.ceil(ctx.config.calls / 10);
      for (let i = 0; i < warmup + ctx.config.calls; i++) {
        for (const mode of i % 2 ? (["off", "mask"] as const) : (["mask", "off"] as const)) {
          const c = controllers[mode];
          const took = await timed(async () => {
            const r = await c.api(tokens[mode], "POST", "/tasks/route", typicalTask(i), { "idempotency-key": `k-${i}` });
            if (r.status !== 202) throw new Error(`route answered ${r.status}`);
          });
          if (i >= warmup) samples[mode].push(took);
        }
      }
      const off = summarize(samples.off);
      const mask = summarize(samples.mask);
      const overhead = mask.p50 / off.p50 - 1;
      data[engine] = { off, mask, overhead };
      tables.push({
        title: `Privacy guard: POST /tasks/route, a ${bytes}-byte task, ${ctx.config.calls} calls each, alternating (${engine})`,
        head: ["MESH_PRIVACY_MODE", "p50", "p95", "p99"],
        rows: [
          ["off", ms(off.p50), ms(off.p95), ms(off.p99)],
          ["mask", ms(mask.p50), ms(mask.p95), ms(mask.p99)],
        ],
        notes: [`The guard alone (secretlint's preset and the personal-data detectors) takes ${ms(summarize(alone).p50)} at p50 per task.`],
      });
      targets.push({
        what: `privacy guard adds at most 10 % to routing a 4 KiB task at p50 (${engine})`,
        met: overhead <= 0.1,
        detail: `${ms(off.p50)} off, ${ms(mask.p50)} mask: ${(overhead * 100).toFixed(1)} %`,
      });
    } finally {
      await Promise.all(Object.values(controllers).map((c) => c.stop()));
      await Promise.all(pg.map((d) => d.drop()));
    }
  }
  return { tables, data, targets };
}
