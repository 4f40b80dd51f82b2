/** Tasks and approvals in a few readable lines, for the text half of tool results. */
import type { Approval, JsonObject, MaskedField, Subtask, Task, TaskDetail, ThreadMessage } from "../contract/schemas.ts";
import { approvalClock, taskClocks } from "../lib/clocks-in-words.ts";

const json = (value: JsonObject) => JSON.stringify(value);
const hasKeys = (value: JsonObject | null): value is JsonObject => value !== null && Object.keys(value).length > 0;

/** One line: id, type, state, who. */
export function taskLine(t: Task): string {
  const holder = t.claimed_by ? `, claimed by ${t.claimed_by}` : "";
  const priority = t.priority === "normal" ? "" : ` [${t.priority}]`;
  return `- ${t.task_id} (${t.task_type})${priority} ${t.status}: from ${t.source} to role ${t.target}${holder}, created ${t.created_at}`;
}

/** Everything a taker needs to act on a task. */
export function taskBody(t: Task): string {
  return [
    ...taskClocks(t).map((line) => `  ${line}`),
    t.parent_task_id !== null && `  Subtask of: ${t.parent_task_id}`,
    t.status === "input_required" &&
      `  Waiting for an answer: its holder ${t.claimed_by} asked its sender ${t.source} a question (the sender replies with reply_to_task)`,
    t.description && `  Description: ${t.description}`,
    hasKeys(t.data) && `  Data: ${json(t.data)}`,
    hasKeys(t.context) && `  Context: ${json(t.context)}`,
    hasKeys(t.result) && `  Result: ${json(t.result)}`,
    t.error && `  ${t.status === "cancelled" ? "Reason" : "Error"}: ${t.error}`,
  ]
    .filter(Boolean)
    .join("\n");
}

export const approvalLine = (a: Approval) =>
  `- ${a.approval_id} for task ${a.task_id}: ${a.status}${a.decided_by ? ` by ${a.decided_by}` : ` (role ${a.approver_role} decides)`}${approvalClock(a)
    .map((part) => `; ${part}`)
    .join("")}; reason: ${a.reason}${a.comments ? `; comments: ${a.comments}` : ""}${whoDecides(a)}`;

/** For a pending approval the reader may not decide, the controller's reason, so it does not look like theirs to act on. */
const whoDecides = (a: Approval) =>
  a.status === "pending" && !a.may_decide.allowed && a.may_decide.detail ? `; not yours to decide: ${a.may_decide.detail}` : "";

/** A thread, one line per message, oldest first. */
export const threadLines = (thread: ThreadMessage[]) => thread.map(messageLine).join("\n");

function messageLine(m: ThreadMessage): string {
  return `- ${m.kind} from ${m.author} at ${m.at}: ${m.text}${m.data === null ? "" : ` (data: ${json(m.data)})`}`;
}

const subtaskLine = (c: Subtask) => `- ${c.task_id} (${c.task_type}) ${c.status}: role ${c.target}${c.claimed_by ? `, claimed by ${c.claimed_by}` : ""}`;

export function taskStatus(t: TaskDetail): string {
  return [
    `Task ${t.task_id} (${t.task_type}) is ${t.status}; version ${t.version}, updated ${t.updated_at}.`,
    taskLine(t),
    taskBody(t),
    t.approvals.length
      ? `Approvals${t.older_approvals ? ` (the ${t.approvals.length} newest; there are older ones)` : ""}:\n${t.approvals.map(approvalLine).join("\n")}`
      : "No approvals asked for.",
    t.thread.length > 0 && `Thread (oldest first):\n${threadLines(t.thread)}`,
    t.status === "input_required" &&
      `The holder waits for the sender's answer: if you sent this task, answer with reply_to_task(task_id="${t.task_id}", answer=…).`,
    t.children.length > 0 && `Subtasks:\n${t.children.map(subtaskLine).join("\n")}`,
  ]
    .filter(Boolean)
    .join("\n");
}

export const taskList = (tasks: Task[]) => tasks.map((t) => [taskLine(t), taskBody(t)].filter(Boolean).join("\n")).join("\n");

/** After a task moved on: what happened, then the task as it is now. */
/** The line that tells a sender what the controller masked before storing, if it masked anything. */
export const maskedNote = (masked: readonly MaskedField[] | undefined) =>
  masked?.length
    ? `The controller masked before storing: ${masked.map((m) => `${m.field} (${m.count} ${m.kind})`).join(", ")}. Send a reference (a ticket, a vault path) instead of such values.`
    : "";

export const taskMoved = (headline: string, t: Task) => [headline, taskLine(t), taskBody(t)].filter(Boolean).join("\n");

/** Where a person decides an approval in a browser: the controller's page opens it from this link. */
export const approvalPage = (controllerUrl: string, approvalId: string) => `${controllerUrl}/?approval=${encodeURIComponent(approvalId)}`;
