/** The compiled binary as a user runs it: flags, settings errors, tokens, shutdown, kill -9. */
import { afterAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiClient, BINARY, spawnController, tempDir, tokenFor } from "../support/controller.ts";

const dirs: string[] = [];
const newDir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function run(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawnSync([BINARY, ...args], { cwd: opts.cwd, env: { PATH: process.env.PATH ?? "", HOME: newDir(), ...opts.env }, stdin: "ignore" });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

describe("command line", () => {
  test("--version prints the version and commit", () => {
    const { code, stdout } = run(["--version"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^agent-mesh \d+\.\d+\.\d+ \(\w+\)\n$/);
  });

  test("--help lists the commands; each command has its own help", () => {
    expect(run(["--help"]).stdout).toContain("controller");
    const help = run(["controller", "--help"]);
    expect(help.code).toBe(0);
    for (const s of ["--port", "--host", "--data-dir", "--db", "MESH_OIDC_ISSUER", "MESH_IDEMPOTENCY_TTL"]) expect(help.stdout).toContain(s);
    expect(run(["token", "--help"]).stdout).toContain("--sub");
  });

  test("a bad value stops it with one line naming the setting and what is allowed", () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["controller", "--port", "abc"], {}, /--port \/ MESH_PORT: .*number/],
      [["controller"], { MESH_PORT: "70000" }, /MESH_PORT: .*65535/],
      [["controller", "--db", "mysql://x"], {}, /--db \/ MESH_DATABASE_URL: must be sqlite:PATH or postgres:/],
      [["controller"], { MESH_IDEMPOTENCY_TTL: "soon" }, /MESH_IDEMPOTENCY_TTL: must be a duration/],
      [["controller", "--colour", "red"], {}, /Unknown option '--colour'/],
      [["token"], {}, /--sub .*required/],
      [["token", "--sub", "a", "--role", "Team Lead"], {}, /--role: role may hold letters/],
      [["token", "--sub", "a", "--ttl", "0s"], {}, /--ttl: a token's lifetime must be between 1 s/],
      [["controller"], { MESH_IDEMPOTENCY_TTL: "0s" }, /MESH_IDEMPOTENCY_TTL: a key's lifetime must be between 1 s/],
      [["controller"], { MESH_CLOCK_TOLERANCE: "365d" }, /MESH_CLOCK_TOLERANCE: the leeway must be between 0 s and 300 s/],
      [["controller"], { MESH_JWT_ALGORITHMS: "RS256,HS256" }, /MESH_JWT_ALGORITHMS: each must be one of RS256/],
      [["frobnicate"], {}, /unknown command "frobnicate"/],
    ];
    for (const [args, env, message] of cases) {
      const { code, stderr } = run(args, { env });
      expect(code, args.join(" ")).toBe(2);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toMatch(message);
    }
  });

  test("settings come from a .env file in the working folder too", () => {
    const cwd = newDir();
    writeFileSync(join(cwd, ".env"), "MESH_PORT=not-a-port\n");
    const { code, stderr } = run(["controller"], { cwd });
    expect(code).toBe(2);
    expect(stderr).toContain("MESH_PORT");
  });
});

describe("the controller process", () => {
  test("a port in use stops it with one line saying so", async () => {
    const holder = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("busy") });
    try {
      const { code, stderr } = run(["controller", "--port", String(holder.port), "--data-dir", newDir()]);
      expect(code).toBe(2);
      expect(stderr.trim().split("\n").at(-1)).toMatch(/--port \d+: the port is in use/);
    } finally {
      await holder.stop(true);
    }
  });

  test("a data folder it cannot use, or settings that contradict each other, stop it with one line saying which", async () => {
    const file = join(newDir(), "a-file");
    writeFileSync(file, "");
    for (const [args, env, message] of [
      [["--data-dir", file], {}, /--data-dir \/ MESH_DATA_DIR: cannot keep data in .*a-file: a file is in the way/],
      [["--data-dir", join(file, "sub")], {}, /--data-dir \/ MESH_DATA_DIR: cannot keep data in .*: a part of the path is a file/],
      [
        ["--data-dir", newDir()],
        { MESH_IDEMPOTENCY_TTL: "1m", MESH_IDEMPOTENCY_RETRY_WINDOW: "2h" },
        /MESH_IDEMPOTENCY_TTL \(60 s\) is shorter than MESH_IDEMPOTENCY_RETRY_WINDOW/,
      ],
    ] as const) {
      const { code, stderr } = run(["controller", "--port", "0", ...args], { env: { ...env } });
      expect(code, args.join(" ")).toBe(2);
      expect(stderr.trim().split("\n").at(-1)).toMatch(message);
    }
  });

  test("keeps its data folder and database private to its user", async () => {
    const dataDir = join(newDir(), "data");
    const ctl = await spawnController(["--data-dir", dataDir]);
    await ctl.stop();
    const { statSync } = await import("node:fs");
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    for (const file of ["mesh.db", "dev-signing-key.json"]) expect(statSync(join(dataDir, file)).mode & 0o077).toBe(0);
  });

  test("prints where it listens, how to get a token and a sign-in link; the commands it prints work as printed", async () => {
    const dataDir = newDir();
    const ctl = await spawnController(["--data-dir", dataDir]);
    try {
      while (!ctl.stderr().includes("Stop with Ctrl-C")) await Bun.sleep(10);
      const printed = ctl.stderr();
      const tokenCommand = /Get a token: +TOKEN=\$\(agent-mesh (token [^)]+)\)\n/.exec(printed)?.[1];
      expect(tokenCommand).toBe(`token --data-dir ${dataDir} --sub alice --role worker`);
      const token = run(tokenCommand!.split(" ")).stdout.trim();
      expect((await apiClient(ctl.url)(token, "GET", "/tasks")).status).toBe(200);
      const loginCommand = /Web page link: +agent-mesh (login .+)\n/.exec(printed)?.[1];
      const link = new URL(run(loginCommand!.split(" ")).stdout.trim());
      expect(link.origin).toBe(new URL(ctl.url).origin);
      expect((await fetch(link)).status).toBe(200);
    } finally {
      await ctl.stop();
    }
  });

  test("SIGTERM: stops accepting, finishes in-flight requests, exits 0", async () => {
    const dataDir = newDir();
    const ctl = await spawnController(["--data-dir", dataDir]);
    const api = apiClient(ctl.url);
    const token = await tokenFor(dataDir, "bob", ["worker"]);
    const inflight = api(token, "GET", "/tasks?target=worker&wait=30");
    await Bun.sleep(300);
    const started = performance.now();
    ctl.proc.kill("SIGTERM");
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await ctl.proc.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(ctl.stderr()).toContain('"msg":"controller stopped"');
    await expect(fetch(new URL("/healthz", ctl.url))).rejects.toThrow();
  });

  test("kill -9 under write load: every write answered 2xx is there after a restart", async () => {
    const dataDir = newDir();
    const first = await spawnController(["--data-dir", dataDir]);
    const token = await tokenFor(dataDir, "alice", ["admin"]);
    const api = apiClient(first.url);
    const acknowledged: string[] = [];
    let stop = false;
    let n = 0;
    const writers = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await api(token, "POST", "/tasks/route", { target: "worker", task: { task_type: "load" } }, { "idempotency-key": `kill-${n++}` });
          if (res.status === 202) acknowledged.push(res.body.task_id);
        } catch {
          return; // the controller is gone
        }
      }
    });
    while (acknowledged.length < 200) await Bun.sleep(10);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    stop = true;
    await Promise.all(writers);

    const second = await spawnController(["--data-dir", dataDir]);
    try {
      const api2 = apiClient(second.url);
      for (const id of acknowledged) {
        const res = await api2(token, "GET", `/tasks/${id}`);
        expect(res.status, id).toBe(200);
        expect(res.body.history).toHaveLength(1);
      }
      // nothing half-written: every task has exactly its one audit row
      let audited = 0;
      let cursor: string | null = null;
      do {
        const page: any = (await api2(token, "GET", `/audit?action=task.created&limit=200${cursor ? `&cursor=${cursor}` : ""}`)).body;
        audited += page.items.length;
        cursor = page.next_cursor;
      } while (cursor);
      let tasks = 0;
      cursor = null;
      do {
        const page: any = (await api2(token, "GET", `/tasks?limit=200${cursor ? `&cursor=${cursor}` : ""}`)).body;
        tasks += page.items.length;
        cursor = page.items.length === 200 ? page.next_cursor : null;
      } while (cursor);
      expect(tasks).toBe(audited);
      expect(tasks).toBeGreaterThanOrEqual(acknowledged.length);
    } finally {
      await second.stop();
    }
  });
});
