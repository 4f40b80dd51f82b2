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
  api: (token: string | null, method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any; headers: Headers }>;
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
  const controller: Controller = await startController(settings, createLogger(settings.logLevel, (line) => (logs += line)));
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

export type SpawnedController = { url: string; proc: Bun.Subprocess<"ignore", "pipe", "pipe">; stderr: () => string; stop: () => Promise<void> };

/** Runs the compiled binary as a controller and waits for it to say where it listens. */
export async function spawnController(args: string[], env: Record<string, string> = {}): Promise<SpawnedController> {
  const proc = Bun.spawn([BINARY, "controller", "--port", "0", ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
  });
  let log = "";
  const reader = proc.stderr.getReader();
  const decoder = new TextDecoder();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`controller did not start:\n${log}`)), 15_000);
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return reject(new Error(`controller exited:\n${log}`));
        log += decoder.decode(value);
        const started = /"msg":"controller started","url":"([^"]+)"/.exec(log);
        if (started) {
          clearTimeout(timer);
          resolve(started[1]!);
          // keep draining so the pipe never fills
          void (async () => {
            for (;;) {
              const next = await reader.read().catch(() => ({ done: true, value: undefined }));
              if (next.done) return;
              log += decoder.decode(next.value);
            }
          })();
          return;
        }
      }
    })();
  });
  return {
    url,
    proc,
    stderr: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
