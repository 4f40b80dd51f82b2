/**
 * Live events: how long a change takes to reach a person's open approvals page. An
 * agent asks for approval over HTTP; the person, signed in with a session cookie as
 * the page is, hears it on an open GET /events stream and, the other live path, as
 * the answer to a long-poll GET /approvals?for=me&wait=…. Both are timed from the
 * POST's start, next to the POST's own round trip (the durable commit the event
 * waits for), then again with many people's pages open, to show the fan-out.
 */
import { meshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase } from "./lib/databases.ts";
import { startController } from "./lib/processes.ts";
import { ms, type SectionResult } from "./lib/report.ts";
import { EventWatch } from "./lib/sse.ts";
import { summarize, type Summary } from "./lib/stats.ts";
import { signIn } from "../tests/support/web.ts";

/** Event delivery p50 at most this far above the POST's own p50. */
const TARGET_MS = 5;
/** People with the page open in the fan-out figures, each its own subject (one caller may hold 16 streams). */
const FAN_OUT = 25;
/** The long-poll's ?wait, in seconds: far longer than any delivery. */
const WAIT_SECONDS = 10;
const APPROVER_ROLE = "bench-approver";
const WORKER_ROLE = "bench-worker";

/** GET /approvals?for=me&wait=… as the person; resolves when the whole answer has come, with when and which approvals. */
async function longPoll(baseUrl: string, cookie: string): Promise<{ at: number; ids: string[] }> {
  const response = await fetch(new URL(`/approvals?for=me&wait=${WAIT_SECONDS}`, baseUrl), { headers: { cookie } });
  const text = await response.text();
  const at = performance.now();
  if (response.status !== 200) throw new Error(`GET /approvals?for=me: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return { at, ids: JSON.parse(text).items.map((a: { approval_id: string }) => a.approval_id) };
}

/** Resolves once the controller holds at least `n` long-polls and streams (its /metrics says), so a POST now wakes a waiting long-poll. */
async function holding(baseUrl: string, n: number) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const text = await (await fetch(new URL("/metrics", baseUrl))).text();
    const open = Number(/^mesh_long_polls_open (\d+)$/m.exec(text)?.[1] ?? NaN);
    if (open >= n) return;
    if (Date.now() > deadline) throw new Error(`the controller holds ${open} long-polls and streams, not ${n}`);
    await Bun.sleep(1);
  }
}

export async function liveEvents(ctx: BenchContext): Promise<SectionResult> {
  const { liveSamples } = ctx.config;
  const dir = subdir(ctx, "live-");
  const db = await createBenchDatabase("sqlite", dir, ctx.config.postgresUrl);
  const controller = await startController(db, dir);
  const watches: EventWatch[] = [];
  try {
    const agent = meshApi(controller.url, await controller.token("bench-agent", [WORKER_ROLE]));
    const decider = meshApi(controller.url, await controller.token("bench-decider", [APPROVER_ROLE]));
    const subjects = Array.from({ length: FAN_OUT }, (_, i) => `bench-person-${String(i + 1).padStart(2, "0")}`);
    const cookies = await Promise.all(subjects.map(async (subject) => (await signIn({ url: controller.url, dataDir: dir }, subject, [APPROVER_ROLE])).cookie));
    const openPage = async (i: number) => {
      const watch = await EventWatch.open(controller.url, cookies[i]!, subjects[i]!);
      watches.push(watch);
      return watch;
    };
    const taskId = await agent.route(WORKER_ROLE);
    // Between requests another approver decides (outside the figures) and every open page hears it,
    // so each long-poll starts with nothing pending and no event is still on its way.
    const settle = async (approvalId: string) => {
      await decider.decide(approvalId, "approved");
      await Promise.all(watches.map((w) => w.arrival("approval.approved", approvalId)));
    };
    const warmup = Math.ceil(liveSamples / 10);

    ctx.progress(`live-events: ${liveSamples} approval requests to one person's open page`);
    const page = await openPage(0);
    const one = { post: [] as number[], event: [] as number[], longPoll: [] as number[] };
    for (let i = 0; i < warmup + liveSamples; i++) {
      const poll = longPoll(controller.url, cookies[0]!);
      poll.catch(() => {}); // awaited below; this only keeps an early failure from counting as unhandled
      await holding(controller.url, watches.length + 1);
      const started = performance.now();
      const approvalId = await agent.requestApproval(taskId, APPROVER_ROLE);
      const posted = performance.now();
      const [heard, answered] = await Promise.all([page.arrival("approval.requested", approvalId), poll]);
      if (!answered.ids.includes(approvalId)) throw new Error(`the long-poll answered ${JSON.stringify(answered.ids)}, not ${approvalId}`);
      if (i >= warmup) {
        one.post.push(posted - started);
        one.event.push(heard - started);
        one.longPoll.push(answered.at - started);
      }
      await settle(approvalId);
    }

    ctx.progress(`live-events: ${liveSamples} approval requests with ${FAN_OUT} people's pages open`);
    for (let i = 1; i < FAN_OUT; i++) await openPage(i);
    const many = { post: [] as number[], first: [] as number[], last: [] as number[] };
    for (let i = 0; i < warmup + liveSamples; i++) {
      const started = performance.now();
      const approvalId = await agent.requestApproval(taskId, APPROVER_ROLE);
      const posted = performance.now();
      const heard = await Promise.all(watches.map((w) => w.arrival("approval.requested", approvalId)));
      if (i >= warmup) {
        many.post.push(posted - started);
        many.first.push(Math.min(...heard) - started);
        many.last.push(Math.max(...heard) - started);
      }
      await settle(approvalId);
    }

    const s = {
      post: summarize(one.post),
      event: summarize(one.event),
      longPoll: summarize(one.longPoll),
      fanOutPost: summarize(many.post),
      fanOutFirst: summarize(many.first),
      fanOutLast: summarize(many.last),
    };
    const plus = (x: number) => `${x >= 0 ? "+" : "−"}${ms(Math.abs(x))}`;
    const row = (name: string, x: Summary, baseline?: Summary) => [name, ms(x.p50), ms(x.p95), ms(x.max), baseline ? plus(x.p50 - baseline.p50) : ""];
    const over = s.event.p50 - s.post.p50;
    return {
      tables: [
        {
          title: `Live events: an approval request reaching a person's open page (${liveSamples} requests each, controller on loopback, SQLite)`,
          head: ["from the POST's start to", "p50", "p95", "max", "p50 vs POST"],
          rows: [
            row("**baseline**: POST /approvals answered (agent, bearer token)", s.post),
            row("the event on the person's open GET /events", s.event, s.post),
            row(`the answer to the person's GET /approvals?for=me&wait=${WAIT_SECONDS}`, s.longPoll, s.post),
            row(`**baseline**, ${FAN_OUT} people's pages open: POST /approvals answered`, s.fanOutPost),
            row(`the event on the first of ${FAN_OUT} open GET /events`, s.fanOutFirst, s.fanOutPost),
            row(`the event on the last of ${FAN_OUT} open GET /events`, s.fanOutLast, s.fanOutPost),
          ],
          notes: [
            `One open task; each request asks ${APPROVER_ROLE} to approve it. The people hold ${APPROVER_ROLE} and are signed in with a one-time link, so their streams and long-polls carry a session cookie, as the page's do.`,
            "Every row is timed from the same POST's start, so the live rows include the commit the event waits for; their last column is what delivery adds. An event can arrive before the POST's own answer.",
            `The long-poll is opened before each POST, which is sent once the controller holds it (mesh_long_polls_open on /metrics); it answers with the new approval. Between requests another approver decides it, outside the figures.`,
            `The last three rows are separate requests, with ${FAN_OUT} people's streams open (different people, so no one's budget of open streams is the limit) and no long-poll or /metrics read before each: compare each group with its own baseline, not with the other's.`,
            "The page itself gathers events for 150 ms before it refreshes its lists (src/page/live.ts); that wait is not in these figures.",
          ],
        },
      ],
      data: { samples: liveSamples, streams: FAN_OUT, ...s },
      targets: [
        {
          what: `approval event on an open page within ${TARGET_MS} ms of the POST's own p50`,
          met: over <= TARGET_MS,
          detail: `${ms(s.event.p50)} vs ${ms(s.post.p50)} (${plus(over)}); long-poll ${ms(s.longPoll.p50)} (${plus(s.longPoll.p50 - s.post.p50)}); last of ${FAN_OUT} pages ${ms(s.fanOutLast.p50)} vs ${ms(s.fanOutPost.p50)} (${plus(s.fanOutLast.p50 - s.fanOutPost.p50)})`,
        },
      ],
    };
  } finally {
    for (const watch of watches) watch.close();
    await controller.stop();
    await db.close();
  }
}
