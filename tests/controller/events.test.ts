import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";
import { openSse } from "../support/sse.ts";

let c: TestController;
let alice: string;
let bob: string;
let eve: string;
beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", []);
  bob = await c.token("bob", ["worker"]);
  eve = await c.token("eve", ["other"]);
});
afterAll(() => c.stop());

let n = 0;
const send = (target = "worker") => c.api(alice, "POST", "/tasks/route", { target, task: { task_type: "t" } }, { "idempotency-key": `ev-${++n}` });

test("streams the changes a caller may see as they happen", async () => {
  const stream = await openSse(new URL("/events", c.url).href, bob);
  expect(stream.status).toBe(200);
  const { task_id } = (await send()).body;
  const created = await stream.next();
  expect(created).toMatchObject({ event: "task.created", data: { task_id, actor: "alice", to_status: "pending", target: "worker" } });
  expect(created!.id).toBe(String(created!.data.seq));
  await c.api(bob, "POST", `/tasks/${task_id}/claim`, {});
  expect(await stream.next()).toMatchObject({ event: "task.claimed", data: { task_id, actor: "bob" } });
  stream.close();
});

test("a reconnect with Last-Event-ID gets exactly the missed events", async () => {
  const first = await openSse(new URL("/events", c.url).href, bob);
  await send();
  const seen = await first.next();
  first.close();
  const missed = [(await send()).body.task_id, (await send()).body.task_id];
  const again = await openSse(new URL("/events", c.url).href, bob, { "last-event-id": seen!.id! });
  expect((await again.next())?.data.task_id).toBe(missed[0]);
  expect((await again.next())?.data.task_id).toBe(missed[1]);
  expect(await again.next(300)).toBeNull();
  // and then live ones, once each
  const live = (await send()).body.task_id;
  expect((await again.next())?.data.task_id).toBe(live);
  expect(await again.next(300)).toBeNull();
  again.close();
});

test("a caller gets no event about a task it may not read", async () => {
  const stream = await openSse(new URL("/events?since=0", c.url).href, eve);
  await send("worker");
  const mine = await c.api(eve, "POST", "/tasks/route", { target: "other", task: { task_type: "t" } }, { "idempotency-key": "eve-1" });
  const event = await stream.next();
  expect(event?.data.task_id).toBe(mine.body.task_id);
  expect(await stream.next(300)).toBeNull();
  stream.close();
});

test("one stream over the caller's budget is a 429 before anything is sent; closing one frees its slot", async () => {
  const small = await startTestController({ MESH_MAX_WAITS_PER_CALLER: "1" });
  try {
    const token = await small.token("bob", ["worker"]);
    const first = await openSse(new URL("/events", small.url).href, token);
    expect(first.status).toBe(200);
    const second = await small.api(token, "GET", "/events");
    expect(second.status).toBe(429);
    expect(second.headers.get("content-type")).toBe("application/problem+json");
    first.close();
    // the slot comes back once the server sees the client gone
    let again = 429;
    for (let i = 0; i < 50 && again === 429; i++) {
      const res = await fetch(new URL("/events", small.url), { headers: { authorization: `Bearer ${token}` } });
      again = res.status;
      await res.body?.cancel();
      if (again === 429) await Bun.sleep(20);
    }
    expect(again).toBe(200);
  } finally {
    await small.stop();
  }
});

test("a malformed Last-Event-ID is a 400", async () => {
  const res = await c.api(bob, "GET", "/events", undefined, { "last-event-id": "abc" });
  expect(res.status).toBe(400);
});

test("a stream or long-poll ends when the token it came with runs out (after the clock leeway)", async () => {
  const strict = await startTestController({ MESH_CLOCK_TOLERANCE: "0s" });
  try {
    const shortLived = await strict.token("temp", ["worker"], 2);
    const started = performance.now();
    const stream = await openSse(new URL("/events", strict.url).href, shortLived);
    expect(stream.status).toBe(200);
    const poll = strict.api(shortLived, "GET", "/tasks?target=worker&wait=30");
    // Nothing happens: the stream closes (null well before the 15 s asked for) and the poll answers empty.
    expect(await stream.next(15_000)).toBeNull();
    expect((await poll).body.items).toEqual([]);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(6_000);
    expect(elapsed).toBeGreaterThan(900);
    stream.close();
  } finally {
    await strict.stop();
  }
});
