/** Runs the compiled `agent-mesh worker` against a test controller, and sends its role tasks as one sender. */
import { expect } from "bun:test";
import { join } from "node:path";
import { until } from "../postgres/cluster.ts";
import { BINARY, type TestController } from "../support/controller.ts";

export type Started = { proc: Bun.Subprocess<"ignore", "ignore", "pipe">; stderr: () => string };

export class WorkerBench {
  readonly #workers: Bun.Subprocess[] = [];

  constructor(
    private readonly c: TestController,
    /** The token the tasks are sent with. */
    private readonly sender: string,
    /** Where each worker's data folder goes. */
    private readonly dir: string,
  ) {}

  /** Runs `agent-mesh worker` as `sub` serving `role`, with `args` (options, then -- and the command). */
  async worker(sub: string, role: string, args: string[], env: Record<string, string> = {}): Promise<Started> {
    const proc = Bun.spawn([BINARY, "worker", "--role", role, "--data-dir", join(this.dir, `data-${sub}`), ...args], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "/tmp",
        CONTROLLER_URL: this.c.url.replace(/\/$/, ""),
        MESH_JWT_TOKEN: await this.c.token(sub, [role]),
        MESH_LEASE_SECONDS: "2",
        ...env,
      },
    });
    this.#workers.push(proc);
    let log = "";
    void (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of proc.stderr) log += decoder.decode(chunk, { stream: true });
    })();
    return { proc, stderr: () => log };
  }

  async route(target: string, task: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.c.api(this.sender, "POST", "/tasks/route", { target, task, ...extra }, { "idempotency-key": crypto.randomUUID() });
    expect(res.status).toBe(202);
    return res.body.task_id as string;
  }

  read = async (id: string) => (await this.c.api(this.sender, "GET", `/tasks/${id}`)).body;

  settled = (id: string, status: string) => until(async () => (await this.read(id)).status === status, `task ${id} ${status}`, 30_000);

  /** Kills the workers still running (after each test). */
  killAll() {
    for (const w of this.#workers.splice(0)) if (w.exitCode === null) w.kill("SIGKILL");
  }
}
