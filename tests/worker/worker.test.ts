/**
 * `agent-mesh worker`: the compiled binary against a real controller, with shell scripts
 * standing in for agent CLIs (no model runs here). Leases are a second or two, so a
 * lapse or a renewal shows within the test.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "../postgres/cluster.ts";
import { BINARY, startTestController, type TestController, tempDir } from "../support/controller.ts";
import { WorkerBench } from "./bench.ts";

let c: TestController;
let alice: string;
let dir: string;
let bench: WorkerBench;

beforeAll(async () => {
  c = await startTestController();
  alice = await c.token("alice", ["dev"]);
  dir = tempDir("mesh-worker-");
  bench = new WorkerBench(c, alice, dir);
});
afterEach(() => {
  bench.killAll();
});
afterAll(async () => {
  await c.stop();
});

/** A shell script standing in for an agent CLI. */
function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("agent-mesh worker", () => {
  test("N tasks through a worker with concurrency 3 complete with each script's JSON result, the task on stdin and in the environment", async () => {
    const agent = script(
      "echo-agent.sh",
      `task=$(cat)
echo "thinking about $MESH_TASK_ID"
printf '{"task_id":"%s","attempt":"%s","same_file":%s,"prompt":"%s"}\\n' "$MESH_TASK_ID" "$MESH_ATTEMPT" "$(grep -q "$MESH_TASK_ID" "$MESH_TASK_FILE" && echo true || echo false)" "$(echo "$1" | head -c 20)"
echo "$task" > stdin.json`,
    );
    const w = await bench.worker("w1", "echo", ["--concurrency", "3", "--", agent, "{prompt}"]);
    const ids = await Promise.all(Array.from({ length: 7 }, (_, i) => bench.route("echo", { task_type: "say", description: `task ${i}` })));
    for (const id of ids) await bench.settled(id, "completed");
    for (const id of ids) {
      const t = await bench.read(id);
      expect(t.result).toMatchObject({ task_id: id, attempt: "1", same_file: true });
      expect(t.result.prompt).toBe("You are an agent ser");
      expect(t.claimed_by).toBe("w1");
      const folder = join(dir, "data-w1", "tasks", `${id}.1`);
      expect(JSON.parse(readFileSync(join(folder, "work", "stdin.json"), "utf8")).task_id).toBe(id);
      expect(readFileSync(join(folder, "stdout.log"), "utf8")).toContain(`thinking about ${id}`);
    }
    expect(w.stderr().match(/"task started"/g)?.length).toBe(7);
    expect(w.stderr().match(/"task completed"/g)?.length).toBe(7);
  }, 60_000);

  test("a command printing no JSON completes with the tail of its output; progress lines reach the task", async () => {
    const agent = script("plain-agent.sh", `echo 'MESH_PROGRESS {"message":"halfway","percent":50}' >&2\nsleep 1.5\necho "just words"`);
    await bench.worker("w2", "plain", ["--", agent]);
    const id = await bench.route("plain", { task_type: "say" });
    await until(async () => (await bench.read(id)).progress?.percent === 50, "progress reported");
    await bench.settled(id, "completed");
    const { result } = await bench.read(id);
    expect(result).toEqual({ output: "just words\n", worker_output: expect.stringContaining(`${id}.1`) });
    expect(readFileSync(join(result.worker_output, "stderr.log"), "utf8")).toContain("MESH_PROGRESS");
  }, 30_000);

  test("an agent printing progress in a loop sends its latest every few seconds, not every line", async () => {
    const agent = script(
      "chatty-agent.sh",
      `for i in $(seq 1 20); do echo "MESH_PROGRESS {\\"percent\\":$i}" >&2; sleep 0.05; done\nsleep 2.5\necho '{"done":true}'`,
    );
    await bench.worker("w12", "chatty", ["--", agent]);
    const id = await bench.route("chatty", { task_type: "say" });
    await bench.settled(id, "completed");
    const { history, progress } = await bench.read(id);
    expect(progress?.percent).toBe(20);
    expect(history.filter((h: { action: string }) => h.action === "task.progress").length).toBeLessThanOrEqual(3);
  }, 30_000);

  test("--prompt-file replaces the prompt: its {placeholders} filled from the task, other braces kept", async () => {
    const template = join(dir, "prompt.txt");
    writeFileSync(template, "{type} for {role} from {source}: {description} {unknown}");
    const agent = script("prompt-agent.sh", `cat > /dev/null\nprintf '{"prompt":"%s"}\\n' "$1"`);
    await bench.worker("w11", "prompted", ["--prompt-file", template, "--", agent, "{prompt}"]);
    const id = await bench.route("prompted", { task_type: "review", description: "PR 7" });
    await bench.settled(id, "completed");
    expect((await bench.read(id)).result).toMatchObject({ prompt: "review for prompted from alice: PR 7 {unknown}" });
  }, 30_000);

  test("a script that runs for three lease lengths keeps its task and completes it", async () => {
    const agent = script("slow-agent.sh", `sleep 6\necho '{"slow":true}'`);
    await bench.worker("w3", "slow", ["--", agent]);
    const id = await bench.route("slow", { task_type: "wait" });
    await bench.settled(id, "completed");
    const t = await bench.read(id);
    expect(t).toMatchObject({ attempt: 1, result: { slow: true } });
    expect(t.history.map((h: any) => h.action)).not.toContain("task.lease_lapsed");
  }, 30_000);

  test("a non-zero exit is retried and then dead-lettered, with the exit code and stderr", async () => {
    const agent = script("failing-agent.sh", `echo "disk on fire" >&2\nexit 3`);
    await bench.worker("w4", "flaky", ["--", agent]);
    const id = await bench.route("flaky", { task_type: "try" }, { max_attempts: 2 });
    await bench.settled(id, "dead_lettered");
    const t = await bench.read(id);
    expect(t.attempt).toBe(2);
    expect(t.error).toContain("exit code 3");
    expect(t.error).toContain("disk on fire");
    expect(t.history.map((h: any) => h.action)).toContain("task.retry_scheduled");
  }, 30_000);

  test("a timeout kills the whole process group", async () => {
    const pidFile = join(dir, "grandchild.pid");
    const agent = script("hanging-agent.sh", `sleep 300 &\necho $! > ${pidFile}\nwait`);
    await bench.worker("w5", "hang", ["--timeout", "1s", "--", agent]);
    const id = await bench.route("hang", { task_type: "hang" }, { max_attempts: 1 });
    await bench.settled(id, "dead_lettered");
    expect((await bench.read(id)).error).toContain("timed out after 1 s");
    const grandchild = Number(readFileSync(pidFile, "utf8"));
    await until(async () => !alive(grandchild), "the background child was killed too");
  }, 30_000);

  test("a command that cannot be started fails at once, without a retry", async () => {
    await bench.worker("w6", "broken", ["--", join(dir, "no-such-agent")]);
    const id = await bench.route("broken", { task_type: "x" });
    await bench.settled(id, "failed");
    const t = await bench.read(id);
    expect(t.attempt).toBe(1);
    expect(t.error).toContain("could not start the command");
  }, 30_000);

  test("kill -9 of a worker mid-task: a second worker completes the task exactly once", async () => {
    const started = join(dir, "started-once");
    const agent = script("once-agent.sh", `echo "$MESH_WORKER_NAME" >> ${started}\nsleep 4\necho '{"by":"'"$MESH_WORKER_NAME"'"}'`);
    const first = await bench.worker("w7a", "crash", ["--", agent], { MESH_WORKER_NAME: "first" });
    const id = await bench.route("crash", { task_type: "x" });
    await until(async () => existsSync(started), "the first worker started the task");
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    await bench.worker("w7b", "crash", ["--", agent], { MESH_WORKER_NAME: "second" });
    await bench.settled(id, "completed");
    const t = await bench.read(id);
    expect(t).toMatchObject({ attempt: 2, claimed_by: "w7b", result: { by: "second" } });
    expect(t.history.map((h: any) => h.action)).toEqual(["task.created", "task.claimed", "task.lease_lapsed", "task.claimed", "task.completed"]);
  }, 40_000);

  test("SIGTERM drains: no new claims, a running task finishes within the grace period, one past it is given back", async () => {
    const quick = script("drain-quick.sh", `sleep 1\necho '{"drained":true}'`);
    const w = await bench.worker("w8", "drain", ["--grace", "5s", "--", quick]);
    const id = await bench.route("drain", { task_type: "x" });
    await until(async () => (await bench.read(id)).status === "claimed", "claimed");
    w.proc.kill("SIGTERM");
    expect(await w.proc.exited).toBe(0);
    expect((await bench.read(id)).status).toBe("completed");
    const waiting = await bench.route("drain", { task_type: "x" });
    expect((await bench.read(waiting)).status).toBe("pending");

    const slow = script("drain-slow.sh", `sleep 30`);
    const w2 = await bench.worker("w9", "drain2", ["--grace", "1s", "--", slow]);
    const id2 = await bench.route("drain2", { task_type: "x" });
    await until(async () => (await bench.read(id2)).status === "claimed", "claimed");
    w2.proc.kill("SIGTERM");
    expect(await w2.proc.exited).toBe(0);
    const t = await bench.read(id2);
    expect(t.status).toBe("pending");
    expect(t.error).toContain("The worker stopped (SIGTERM)");
  }, 40_000);

  test("two-level delegation: a task's script sends a sub-task through `agent-mesh mcp` to a role a second worker serves", async () => {
    const leaf = script("leaf-agent.sh", `cat > /dev/null\necho '{"leaf":"done"}'`);
    await bench.worker("lead-bot", "lead", ["--", "bun", join(import.meta.dir, "fixtures", "delegating-agent.ts")], {
      AGENT_MESH: BINARY,
      DELEGATE_TO: "helper",
    });
    await bench.worker("helper-bot", "helper", ["--", leaf]);
    const id = await bench.route("lead", { task_type: "plan" });
    await bench.settled(id, "completed");
    const t = await bench.read(id);
    expect(t.result.sub_result).toMatchObject({ leaf: "done" });
    const sub = await c.api(await c.token("lead-bot", ["lead"]), "GET", `/tasks/${t.result.delegated_to}`);
    expect(sub.body).toMatchObject({ source: "lead-bot", target: "helper", claimed_by: "helper-bot", status: "completed", data: { parent: id } });
  }, 40_000);

  test("--once takes one task (or none) and exits", async () => {
    const agent = script("once.sh", `echo '{"ok":1}'`);
    const none = await bench.worker("w10", "batch", ["--once", "--", agent]);
    expect(await none.proc.exited).toBe(0);
    const a = await bench.route("batch", { task_type: "x" });
    const b = await bench.route("batch", { task_type: "x" });
    const one = await bench.worker("w10", "batch", ["--once", "--", agent]);
    expect(await one.proc.exited).toBe(0);
    expect([(await bench.read(a)).status, (await bench.read(b)).status]).toEqual(["completed", "pending"]);
  }, 30_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
