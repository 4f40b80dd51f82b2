/**
 * Scale: inbox and status latency as the store grows to 10k, 100k and 1M tasks. The
 * tasks are bulk-inserted straight into the controller's tables (after it ran its
 * migrations), each with its audit row, spread over ten roles with a quarter pending.
 */
import { meshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase, INBOX_ROLE, RARE_ROLE } from "./lib/databases.ts";
import { rssBytes, startController } from "./lib/processes.ts";
import { count, ms, type SectionResult, type Target } from "./lib/report.ts";
import { summarize, timed, type Summary } from "./lib/stats.ts";

const PAGE = 50;
/** Flat: the p50 at the largest size is at most this factor of the smallest size's, plus FLAT_SLACK_MS for timer noise. */
const FLAT_FACTOR = 1.5;
const FLAT_SLACK_MS = 0.5;

/** The controller's keyset cursor for "after seq" (see encodeCursor in src/controller/service.ts). */
const cursorAfter = (seq: number) => Buffer.from(`s${seq}`).toString("base64url");

type Step = { tasks: number; seedSeconds: number; inbox: Summary; deepInbox: Summary; rareInbox: Summary; status: Summary };

export async function scale(ctx: BenchContext): Promise<SectionResult> {
  const { engines, scaleTiers, scaleSamples, postgresUrl } = ctx.config;
  const rows: string[][] = [];
  const data: Record<string, Step[]> = {};
  const targets: Target[] = [];
  for (const engine of engines) {
    const dir = subdir(ctx, `scale-${engine}-`);
    const db = await createBenchDatabase(engine, dir, postgresUrl);
    const controller = await startController(db, dir);
    try {
      ctx.controllerMemory.push({ when: `${engine}, empty store (scale run)`, bytes: rssBytes(controller.pid) });
      const api = meshApi(controller.url, await controller.token("bench-reader", [INBOX_ROLE, RARE_ROLE]));
      const inboxOf = (role: string) => `/tasks?target=${role}&status=pending&limit=${PAGE}`;
      const inbox = inboxOf(INBOX_ROLE);
      const steps: Step[] = [];
      for (const tasks of scaleTiers) {
        ctx.progress(`scale: ${engine}, seeding to ${count(tasks)} tasks`);
        const seedSeconds = (await timed(() => db.seedUpTo(tasks))) / 1000;
        const ids = await db.randomTaskIds(scaleSamples);
        const deep = `${inbox}&cursor=${cursorAfter(await db.midInboxSeq())}`;
        for (const role of [INBOX_ROLE, RARE_ROLE]) {
          const page = await api.get(inboxOf(role));
          if (page.items.length !== PAGE) throw new Error(`the inbox of ${role} held ${page.items.length} tasks, not ${PAGE}`);
        }
        const samples = { inbox: [] as number[], deepInbox: [] as number[], rareInbox: [] as number[], status: [] as number[] };
        for (const [i, id] of ids.entries()) {
          // Every kind takes its turn each round; the first rounds warm up.
          const round = {
            inbox: () => api.get(inbox),
            deepInbox: () => api.get(deep),
            rareInbox: () => api.get(inboxOf(RARE_ROLE)),
            status: () => api.get(`/tasks/${id}`),
          };
          for (const [kind, call] of Object.entries(round)) {
            const elapsed = await timed(call);
            if (i >= ids.length / 10) samples[kind as keyof typeof samples].push(elapsed);
          }
        }
        const step = {
          tasks,
          seedSeconds,
          inbox: summarize(samples.inbox),
          deepInbox: summarize(samples.deepInbox),
          rareInbox: summarize(samples.rareInbox),
          status: summarize(samples.status),
        };
        steps.push(step);
        const cell = (x: Summary) => `${ms(x.p50)} / ${ms(x.p99)}`;
        rows.push([engine, count(tasks), cell(step.inbox), cell(step.deepInbox), cell(step.rareInbox), cell(step.status), `${seedSeconds.toFixed(1)} s`]);
      }
      ctx.controllerMemory.push({ when: `${engine}, ${count(scaleTiers.at(-1)!)} tasks stored, after the scale queries`, bytes: rssBytes(controller.pid) });
      data[engine] = steps;
      const [first, last] = [steps[0]!, steps.at(-1)!];
      for (const [kind, label] of [
        ["inbox", "inbox"],
        ["deepInbox", "inbox middle page"],
        ["rareInbox", "rare role's inbox"],
        ["status", "status"],
      ] as const) {
        const limit = first[kind].p50 * FLAT_FACTOR + FLAT_SLACK_MS;
        targets.push({
          what: `${engine}: ${label} p50 flat from ${count(first.tasks)} to ${count(last.tasks)} tasks (≤ ${FLAT_FACTOR}× + ${FLAT_SLACK_MS} ms)`,
          met: last[kind].p50 <= limit,
          detail: `${ms(first[kind].p50)} → ${ms(last[kind].p50)}`,
        });
      }
    } finally {
      await controller.stop();
      await db.close();
    }
  }
  return {
    tables: [
      {
        title: `Scale: latency p50 / p99 with tasks stored (${scaleSamples} requests each, one client)`,
        head: [
          "engine",
          "tasks stored",
          `inbox, first page of ${PAGE}`,
          "inbox, page from the middle",
          "inbox of a rare role",
          "status GET /tasks/{id}",
          "seeding (to this size)",
        ],
        rows,
        notes: [
          `inbox: GET /tasks?target=${INBOX_ROLE}&status=pending&limit=${PAGE} as a holder of ${INBOX_ROLE}, which has a tenth of the tasks, a quarter of them pending; the middle page starts from a cursor halfway through them.`,
          `rare role: the same query for ${RARE_ROLE}, whose only pending tasks are the newest 50 rows: a plan that walks everyone's pending tasks in seq order would grow with the table here.`,
          `status: GET /tasks/{id} (the task with its history and approvals) of a random task of ${INBOX_ROLE}, by the same reader.`,
        ],
      },
    ],
    data,
    targets,
  };
}
