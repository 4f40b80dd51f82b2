/**
 * A real controller for tests: in this process (real Bun.serve, real SQLite file in a
 * temp folder, real JWT checks) or as the compiled binary in its own process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateDevKey, mintDevToken } from "../../src/controller/dev-keys.ts";
import { startController, type Controller } from "../../src/controller/server.ts";
import { controllerSettings } from "../../src/controller/settings.ts";
import { createLogger } from "../../src/lib/log.ts";
import { loadSettings } from "../../src/lib/settings.ts";

export const BINARY = join(import.meta.dir, "../../dist/agent-mesh");

export const tempDir = (prefix = "mesh-test-") => mkdtempSync(join(tmpdir(), prefix));

export type TestController = {
  url: string;
  dataDir: string;
  /** A dev token for `sub` with `roles`, signed by this controller's key. */
  token: (sub: string, roles?: string[], ttlSeconds?: number) => Promise<string>;
  /** fetch against the controller as `token`, JSON in and out. */
  api: (
    token: string | null,
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<{ status: number; body: any; headers: Headers }>;
  /** Everything the controller logged so far (JSON lines). */
  logs: () => string;
  stop: () => Promise<void>;
};

export async function tokenFor(dataDir: string, sub: string, roles: string[] = [], ttlSeconds = 3600) {
  const key = await loadOrCreateDevKey(dataDir);
  return mintDevToken(key, { subject: sub, roles, ttlSeconds, audience: "agent-mesh", rolesClaim: "realm_access.roles" });
}

export function apiClient(url: string): TestController["api"] {
  return async (token, method, path, body, headers = {}) => {
    const response = await fetch(new URL(path, url), {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed, headers: response.headers };
  };
}

/** Starts a controller in this process. `env` holds MESH_* settings, as a user would set them. */
export async function startTestController(env: Record<string, string> = {}): Promise<TestController> {
  const dataDir = env.MESH_DATA_DIR ?? tempDir();
  const settings = loadSettings(controllerSettings, [], { MESH_PORT: "0", MESH_DATA_DIR: dataDir, ...env });
  let logs = "";
  const controller: Controller = await startController(
    settings,
    createLogger(settings.logLevel, (line) => (logs += line)),
  );
  const url = controller.url.href;
  return {
    url,
    dataDir,
    token: (sub, roles, ttl) => tokenFor(dataDir, sub, roles, ttl),
    api: apiClient(url),
    logs: () => logs,
    async stop() {
      await controller.stop();
      if (!env.MESH_DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type SpawnedController = {
  /** The base URL, without a trailing slash, as CONTROLLER_URL takes it. */
  url: string;
  port: number;
  proc: Bun.Subprocess<"ignore", "ignore", "pipe">;
  stderr: () => string;
  /** kill -9, resolving once the process is gone. */
  kill9: () => Promise<void>;
  stop: () => Promise<void>;
};

export type SpawnOptions = {
  env?: Record<string, string>;
  /** Another build, e.g. a deliberately broken one. */
  binary?: string;
  /** A fixed port, to restart a controller where its clients expect it; 0 (default) picks one. */
  port?: number;
};

const STARTED = /"msg":"controller started","url":"([^"]+)"/;

/** Runs the compiled binary as a controller and waits for it to say where it listens. */
export async function spawnController(args: string[], o: SpawnOptions = {}): Promise<SpawnedController> {
  const command = [o.binary ?? BINARY, "controller", "--port", String(o.port ?? 0), ...args];
  // Binding can race a port the kernel still holds for a moment after a kill; try a few times.
  for (let attempt = 1; ; attempt++) {
    const proc = Bun.spawn(command, {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...o.env },
    });
    let log = "";
    const reader = proc.stderr.getReader();
    const decoder = new TextDecoder();
    const deadline = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    let url: string | null = null;
    while (url === null) {
      const { value, done } = await reader.read();
      if (done) break;
      log += decoder.decode(value, { stream: true });
      url = STARTED.exec(log)?.[1] ?? null;
    }
    clearTimeout(deadline);
    if (url === null) {
      await proc.exited;
      if (o.port && attempt < 5 && /in use/i.test(log)) continue;
      throw new Error(`controller did not start (exit ${proc.exitCode ?? proc.signalCode}):\n${log}`);
    }
    // Keep draining so the pipe never fills; one line per request, so keep the tail only.
    void (async () => {
      for (;;) {
        const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (next.done) return;
        log = (log + decoder.decode(next.value, { stream: true })).slice(-500_000);
      }
    })();
    const base = url.replace(/\/$/, "");
    return {
      url: base,
      port: Number(new URL(base).port),
      proc,
      stderr: () => log,
      async kill9() {
        proc.kill("SIGKILL");
        await proc.exited;
      },
      async stop() {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill("SIGTERM");
        await proc.exited;
      },
    };
  }
}
