/**
 * A2A push notifications: a task's updates POSTed to a caller's webhook, only to
 * addresses on the operator's allow-list (MESH_A2A_PUSH_ALLOW), each signed with
 * HMAC-SHA256 keyed by the config's token (which itself never travels), retried with
 * backoff. Updates come from the controller's own event stream, heard as the
 * config's owner hears them. Configs live in this controller's memory until their
 * task finishes.
 */
import { createHmac } from "node:crypto";
import { FINISHED, type TaskStatus } from "../../contract/schemas.ts";
import type { Logger } from "../../lib/log.ts";
import type { RequestContext } from "../request-context.ts";
import { type EventStream, HEARTBEAT, type MeshService } from "../service.ts";
import { STATES, updatesOf } from "./translate.ts";
import { CODES, type PushConfig, RpcError, type StoredPushConfig, type StreamResponse } from "./wire.ts";

/** Configs one task may have. */
const CONFIGS_PER_TASK = 10;
/** Tries per notification, and the wait before the second (doubling after). */
const ATTEMPTS = 5;
const FIRST_RETRY_MS = 500;
const TIMEOUT_MS = 10_000;
const MIN_TOKEN = 16;

/** The header a receiver checks: `t=<unix seconds>,v1=<hex HMAC-SHA256(token, "<t>.<body>")>`. */
export const SIGNATURE_HEADER = "x-a2a-notification-signature";

export function sign(token: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac("sha256", token).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** Whether `url` is under one of the allowed prefixes: the same origin (scheme, host, port), and a path at or below the prefix's. */
export function allowed(allowList: readonly URL[], url: string): boolean {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  if (target.username || target.password) return false;
  return allowList.some((prefix) => {
    const path = prefix.pathname;
    // A prefix ends at a path segment: /hooks allows /hooks/a, not /hooksmith.
    return prefix.origin === target.origin && (target.pathname === path || target.pathname.startsWith(path.endsWith("/") ? path : `${path}/`));
  });
}

/** A config as kept: with its signing secret and who made it (only they see it). */
type Entry = StoredPushConfig & { token: string; owner: string };

export class PushNotifications {
  readonly #configs = new Map<string, Entry[]>();
  /** Tasks whose changes are being heard, one stream each whatever the number of configs. */
  readonly #following = new Set<string>();
  readonly #allowList: readonly URL[];
  readonly #service: MeshService;
  readonly #log: Logger;
  readonly #stop: AbortSignal;

  constructor(allowList: readonly URL[], service: MeshService, log: Logger, stop: AbortSignal) {
    this.#allowList = allowList;
    this.#service = service;
    this.#log = log;
    this.#stop = stop;
  }

  get enabled(): boolean {
    return this.#allowList.length > 0;
  }

  /** Refuses a config that could not be kept: push is off, its address is not allowed, or it has no signing secret. */
  check(config: PushConfig): asserts config is PushConfig & { token: string } {
    if (!this.enabled) {
      throw new RpcError(
        CODES.pushNotSupported,
        "Push notifications are off: the operator allows no webhook addresses (MESH_A2A_PUSH_ALLOW).",
        "PUSH_NOT_SUPPORTED",
      );
    }
    if (!allowed(this.#allowList, config.url)) {
      throw new RpcError(
        CODES.invalidParams,
        `${config.url} is not on the operator's allow-list of webhook addresses (MESH_A2A_PUSH_ALLOW); ask them to add it, or use an address under ${this.#allowList.map((u) => u.href).join(", ")}.`,
        "PUSH_URL_NOT_ALLOWED",
      );
    }
    if (!config.token || config.token.length < MIN_TOKEN) {
      throw new RpcError(
        CODES.invalidParams,
        `token must be a secret of at least ${MIN_TOKEN} characters: every notification is signed with it (${SIGNATURE_HEADER}).`,
        "PUSH_TOKEN_REQUIRED",
      );
    }
  }

  /**
   * Keeps a config for a task the caller may read (the service checks that) and starts
   * following the task. `afterSeq` and `seen`: the last change, and the state, reflected in what the caller saw.
   */
  async create(ctx: RequestContext, taskId: string, config: PushConfig, afterSeq: number, seen: TaskStatus): Promise<StoredPushConfig> {
    this.check(config);
    const entry: Entry = {
      id: config.id || crypto.randomUUID(),
      taskId,
      url: config.url,
      token: config.token,
      owner: ctx.caller.subject,
      ...(config.authentication && { authentication: config.authentication }),
    };
    // A config with the same id replaces its earlier self, so it does not count against the bound.
    const others = (this.#configs.get(taskId) ?? []).filter((c) => !(c.owner === entry.owner && c.id === entry.id));
    if (others.length >= CONFIGS_PER_TASK) {
      throw new RpcError(
        CODES.invalidParams,
        `Task ${taskId} already has ${CONFIGS_PER_TASK} push configs, the most one task may; delete one first.`,
        "TOO_MANY_PUSH_CONFIGS",
      );
    }
    if (!this.#following.has(taskId)) {
      // Opened now, so a caller over their budget of streams hears so instead of a config that never fires.
      // The config was allowed when it was made; it lasts until its task finishes, not until the token runs out.
      const owner: RequestContext = { caller: ctx.caller, traceId: ctx.traceId, signal: this.#stop };
      const stream = this.#service.openEvents(owner, afterSeq);
      this.#following.add(taskId);
      void this.#follow(owner, stream, taskId, seen);
    }
    this.#configs.set(taskId, [...others, entry]);
    return publicOf(entry);
  }

  #mine(owner: string, taskId: string): Entry[] {
    return (this.#configs.get(taskId) ?? []).filter((c) => c.owner === owner);
  }

  get(owner: string, taskId: string, id: string): StoredPushConfig {
    const found = this.#mine(owner, taskId).find((c) => c.id === id);
    if (!found) throw new RpcError(CODES.taskNotFound, `Task ${taskId} has no push config ${id}.`, "PUSH_CONFIG_NOT_FOUND");
    return publicOf(found);
  }

  list(owner: string, taskId: string): StoredPushConfig[] {
    return this.#mine(owner, taskId).map(publicOf);
  }

  delete(owner: string, taskId: string, id: string): void {
    const left = (this.#configs.get(taskId) ?? []).filter((c) => !(c.owner === owner && c.id === id));
    if (left.length) this.#configs.set(taskId, left);
    else this.#configs.delete(taskId);
  }

  /**
   * Hears the task's changes as the config's owner would, and sends each new A2A state
   * to every config the task has then; a change that leaves the state as it was (a note,
   * progress) sends nothing, as a stream's follower sees nothing of it either.
   */
  async #follow(owner: RequestContext, stream: EventStream, taskId: string, seen: TaskStatus): Promise<void> {
    let queue = Promise.resolve();
    let state = seen;
    try {
      for await (const change of stream.changes) {
        if (change === HEARTBEAT || change.task_id !== taskId || change.approval_id !== null) continue;
        const task = await this.#service.getTask(owner, taskId);
        if (STATES[task.status] === STATES[state]) continue;
        state = task.status;
        const updates = updatesOf(task);
        const configs = this.#configs.get(taskId) ?? [];
        queue = queue.then(() => this.#deliverAll(configs, updates));
        if (FINISHED.has(task.status)) break;
      }
    } catch (error) {
      this.#log.warn("stopped following a task for push notifications", { task_id: taskId, error: (error as Error).message });
    } finally {
      stream.close();
      await queue;
      this.#configs.delete(taskId);
      this.#following.delete(taskId);
    }
  }

  async #deliverAll(configs: readonly Entry[], updates: readonly StreamResponse[]): Promise<void> {
    await Promise.all(
      configs.map(async (config) => {
        for (const update of updates) await this.#deliver(config, update);
      }),
    );
  }

  /** POSTs one update, retrying a failure (network, timeout, 408, 429, 5xx) with doubling waits; never follows a redirect. */
  async #deliver(config: Entry, update: StreamResponse): Promise<void> {
    const body = JSON.stringify(update);
    for (let attempt = 1, wait = FIRST_RETRY_MS; ; attempt++, wait *= 2) {
      let outcome: string;
      try {
        const headers: Record<string, string> = {
          "content-type": "application/a2a+json",
          [SIGNATURE_HEADER]: sign(config.token, Math.floor(Date.now() / 1000), body),
        };
        if (config.authentication?.credentials) headers.authorization = `${config.authentication.scheme} ${config.authentication.credentials}`;
        const response = await fetch(config.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(TIMEOUT_MS) });
        await response.body?.cancel();
        if (response.ok) return;
        outcome = `answered ${response.status}`;
        if (!(response.status === 408 || response.status === 429 || response.status >= 500)) attempt = ATTEMPTS;
      } catch (error) {
        outcome = (error as Error).message;
      }
      if (attempt >= ATTEMPTS || this.#stop.aborted) {
        this.#log.warn("gave up on a push notification", { task_id: config.taskId, url: config.url, attempts: attempt, last: outcome });
        return;
      }
      await Bun.sleep(wait);
    }
  }
}

const publicOf = ({ token: _secret, owner: _owner, ...config }: Entry): StoredPushConfig => config;
