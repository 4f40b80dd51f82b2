/**
 * `agent-mesh tasks …` and `agent-mesh approvals …`: the mesh from a terminal, for
 * people without an agent. They call the controller like any agent, with a token,
 * and print tables (or --json).
 */
import { z } from "zod";
import { clientSettings } from "../client/client-settings.ts";
import { connect } from "../client/connect.ts";
import type { Outcome } from "../client/controller-client.ts";
import { explainFailure, FOR_PEOPLE } from "../client/explain.ts";
import { createLogger } from "../lib/log.ts";
import { ApprovalStatus, Id, Role, Subject, TaskStatus, TaskSpec } from "../contract/schemas.ts";
import { taskClocks } from "../lib/clocks-in-words.ts";
import { loadSettings, logLevelSetting, positiveInt, SettingsError, settingsHelp, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";
import { shortTime, table } from "./table.ts";

const common = {
  ...clientSettings,
  json: { flag: "json", schema: z.boolean().default(false), boolean: true, help: "Print JSON instead of a table" },
  // Retries are the program's business; a person sees the outcome (--log-level warn shows them).
  logLevel: logLevelSetting("error"),
} satisfies SettingsSpec;

const taskFilters = {
  ...common,
  target: { flag: "target", schema: Role.optional(), help: "Only tasks for this role" },
  source: { flag: "source", schema: Subject.optional(), help: "Only tasks sent by this identity" },
  status: { flag: "status", schema: TaskStatus.optional(), help: `One of ${TaskStatus.options.join(", ")}` },
  type: { flag: "type", schema: TaskSpec.shape.task_type.optional(), help: "Only tasks of this task_type" },
  limit: { flag: "limit", schema: positiveInt(200), fallback: "50", help: "At most this many, newest first" },
} satisfies SettingsSpec;

const approvalFilters = {
  ...common,
  role: { flag: "role", schema: Role.optional(), help: "Only approvals this role decides" },
  status: { flag: "status", schema: ApprovalStatus.default("pending"), help: "pending (default), approved or rejected" },
  task: { flag: "task", schema: Id.optional(), help: "Only approvals of this task" },
} satisfies SettingsSpec;

const decision = {
  ...common,
  comment: {
    flag: "comment",
    schema: z
      .string()
      .max(16 * 1024)
      .default(""),
    help: "Why, for the agent that asked",
  },
} satisfies SettingsSpec;

type Action = { usage: string; summary: string; spec: SettingsSpec; needsId: boolean; run: (id: string | undefined, argv: string[]) => Promise<number> };

/** Runs one call and prints its answer, or explains its failure; returns the exit code. */
async function show<T>(outcome: Promise<Outcome<T>>, json: boolean, render: (value: T) => string, origin: () => string): Promise<number> {
  const r = await outcome;
  if (!r.ok) {
    console.error(explainFailure(r.failure, origin(), FOR_PEOPLE));
    return 1;
  }
  console.log(json ? JSON.stringify(r.value, null, 2) : render(r.value));
  return 0;
}

function open<S extends typeof common>(spec: S, argv: string[]) {
  const settings = loadSettings(spec, argv);
  const shared = settings as SettingsOf<typeof common>;
  const client = connect(shared, createLogger(shared.logLevel));
  return { settings, client, origin: () => client.tokens.origin };
}

const TASKS: Record<string, Action> = {
  list: {
    usage: "agent-mesh tasks list [--target ROLE] [--status S] [--source NAME] [--type T] [--limit N] [--json]",
    summary: "Tasks you may see, newest first",
    spec: taskFilters,
    needsId: false,
    async run(_id, argv) {
      const { settings: s, client, origin } = open(taskFilters, argv);
      return show(
        client.call("listTasks", { query: { target: s.target, source: s.source, status: s.status, task_type: s.type, limit: s.limit, order: "desc" } }),
        s.json,
        (page) =>
          page.items.length
            ? table(
                ["TASK", "TYPE", "STATUS", "FROM", "TO ROLE", "CLAIMED BY", "ATTEMPT", "CREATED", "DEADLINE"],
                page.items.map((t) => [
                  t.task_id,
                  t.task_type,
                  t.status,
                  t.source,
                  t.target,
                  t.claimed_by ?? "",
                  t.attempt ? `${t.attempt}/${t.max_attempts}` : "",
                  shortTime(t.created_at),
                  t.deadline ? shortTime(t.deadline) : "",
                ]),
              ) + (page.next_cursor ? `\nMore tasks match than --limit ${s.limit} shows; raise --limit or narrow the filters.` : "")
            : "No tasks match.",
        origin,
      );
    },
  },
  show: {
    usage: "agent-mesh tasks show TASK_ID [--json]",
    summary: "One task: its data, result, thread, subtasks, approvals and history",
    spec: common,
    needsId: true,
    async run(id, argv) {
      const { settings: s, client, origin } = open(common, argv);
      return show(
        client.call("getTask", { params: { id: id! } }),
        s.json,
        (t) =>
          [
            `Task ${t.task_id}: ${t.task_type}, ${t.status}${t.claimed_by ? ` (claimed by ${t.claimed_by})` : ""}`,
            `From ${t.source} to role ${t.target}, priority ${t.priority}, created ${t.created_at}`,
            ...taskClocks(t),
            t.description && `Description: ${t.description}`,
            Object.keys(t.data).length > 0 && `Data: ${JSON.stringify(t.data)}`,
            t.result && `Result: ${JSON.stringify(t.result)}`,
            t.error && `Error: ${t.error}`,
            t.parent_task_id && `Subtask of: ${t.parent_task_id}`,
            t.status === "input_required" &&
              `Waiting for an answer from ${t.source} to ${t.claimed_by}'s question (answer on the page, or with reply_to_task).`,
            t.thread.length > 0 &&
              `\nThread:\n${table(
                ["WHEN", "WHO", "WHAT", "TEXT"],
                t.thread.map((m) => [shortTime(m.at), m.author, m.kind, m.text]),
              )}`,
            t.children.length > 0 &&
              `\nSubtasks:\n${table(
                ["TASK", "TYPE", "STATUS", "TO ROLE", "CLAIMED BY"],
                t.children.map((c) => [c.task_id, c.task_type, c.status, c.target, c.claimed_by ?? ""]),
              )}`,
            t.approvals.length > 0 &&
              `\nApprovals${t.older_approvals ? ` (the newest; all at ${t.older_approvals})` : ""}:\n${table(
                ["APPROVAL", "ROLE", "STATUS", "DECIDED BY", "REASON"],
                t.approvals.map((a) => [a.approval_id, a.approver_role, a.status, a.decided_by ?? "", a.reason]),
              )}`,
            `\nHistory${t.older_history ? ` (the newest; all at ${t.older_history})` : ""}:\n${table(
              ["WHEN", "WHO", "WHAT"],
              t.history.map((h) => [shortTime(h.at), h.actor, h.action]),
            )}`,
          ]
            .filter(Boolean)
            .join("\n"),
        origin,
      );
    },
  },
  retry: {
    usage: "agent-mesh tasks retry TASK_ID [--json]",
    summary: "Put a dead-lettered task back to pending with a fresh budget of attempts (its sender, admins)",
    spec: common,
    needsId: true,
    async run(id, argv) {
      const { settings: s, client, origin } = open(common, argv);
      return show(
        client.call("retryTask", { params: { id: id! }, body: {} }),
        s.json,
        (t) => `Task ${t.task_id} is ${t.status} again; it may be claimed until attempt ${t.max_attempts}.`,
        origin,
      );
    },
  },
};

const decide =
  (verdict: "approved" | "rejected"): Action["run"] =>
  async (id, argv) => {
    const { settings: s, client, origin } = open(decision, argv);
    return show(
      client.call("decideApproval", { params: { id: id! }, body: { decision: verdict, comments: s.comment } }),
      s.json,
      (a) => `Approval ${a.approval_id} ${a.status} by ${a.decided_by}.`,
      origin,
    );
  };

const APPROVALS: Record<string, Action> = {
  list: {
    usage: "agent-mesh approvals list [--role ROLE] [--status pending|approved|rejected] [--task TASK_ID] [--json]",
    summary: "Approvals you may see (pending by default), newest first",
    spec: approvalFilters,
    needsId: false,
    async run(_id, argv) {
      const { settings: s, client, origin } = open(approvalFilters, argv);
      return show(
        client.call("listApprovals", { query: { approver_role: s.role, status: s.status, task_id: s.task } }),
        s.json,
        (page) =>
          page.items.length
            ? table(
                ["APPROVAL", "TASK", "ROLE", "STATUS", "ASKED BY", "YOU MAY DECIDE", "REASON"],
                page.items.map((a) => [
                  a.approval_id,
                  a.task_id,
                  a.approver_role,
                  a.status,
                  a.requested_by,
                  a.may_decide.allowed ? "yes" : `no (${a.may_decide.refusal?.replaceAll("_", " ") ?? "not now"})`,
                  a.reason,
                ]),
              )
            : `No ${s.status} approvals.`,
        origin,
      );
    },
  },
  approve: {
    usage: "agent-mesh approvals approve APPROVAL_ID [--comment TEXT]",
    summary: "Approve, as a holder of the approver role",
    spec: decision,
    needsId: true,
    run: decide("approved"),
  },
  reject: {
    usage: "agent-mesh approvals reject APPROVAL_ID [--comment TEXT]",
    summary: "Reject, as a holder of the approver role",
    spec: decision,
    needsId: true,
    run: decide("rejected"),
  },
};

function help(noun: string, actions: Record<string, Action>): string {
  const usages = Object.values(actions).map((a) => `  ${a.usage}\n      ${a.summary}`);
  return [
    `Usage:\n${usages.join("\n")}`,
    "The token is MESH_JWT_TOKEN (or OIDC client credentials), as for `agent-mesh mcp`; get one with `agent-mesh token`.",
    `Options every action takes:\n${settingsHelp(common)}`,
    `\`agent-mesh ${noun} ACTION --help\` shows an action's own options.`,
  ].join("\n\n");
}

function runner(noun: string, actions: Record<string, Action>) {
  return async (argv: string[]): Promise<void> => {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h") {
      console.log(help(noun, actions));
      return;
    }
    const action = actions[name];
    if (!action) throw new SettingsError(`unknown action "${name}"; use one of: ${Object.keys(actions).join(", ")}`);
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(`Usage: ${action.usage}\n\n${action.summary}.\n\nOptions:\n${settingsHelp(action.spec)}`);
      return;
    }
    const id = rest[0] !== undefined && !rest[0].startsWith("-") ? rest.shift() : undefined;
    if (action.needsId && !id) throw new SettingsError(`${name} needs an id: ${action.usage}`);
    if (!action.needsId && id) throw new SettingsError(`${name} takes no id (got "${id}"): ${action.usage}`);
    const code = await action.run(id, rest);
    if (code !== 0) process.exitCode = code;
  };
}

export const runTasks = runner("tasks", TASKS);
export const runApprovals = runner("approvals", APPROVALS);
