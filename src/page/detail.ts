/** One approval or one task in full, refreshed in place as it changes. */
import { ENDPOINTS, pathWith } from "../contract/paths.ts";
import type { EVENT_ACTIONS } from "../contract/event-actions.ts";
import type { Approval, HistoryEntry, TaskDetail } from "../contract/schemas.ts";
import { api, ApiError, asApiError } from "./api.ts";
import { forgetDecisionForm, renderDecision } from "./deciding.ts";
import { badge, byId, type Child, fact, fill, h, prose, who } from "./dom.ts";
import { approvalRow, approvalTitle } from "./lists.ts";
import { lastListView, listHref, route } from "./routing.ts";
import { me } from "./session.ts";
import { renderThread, renderTree } from "./thread.ts";
import { timeEl } from "./times.ts";
import { approvalClock, taskClocks } from "../lib/clocks-in-words.ts";

const detailEl = byId("view-detail");
/** Grows with every load: an answer for an older load is dropped. */
let detailSeq = 0;
/** The task of what is open, to know which live events concern it. */
export let openTaskId: string | null = null;

type Slots = Record<"head" | "decide" | "task" | "history", HTMLElement>;

export function closeDetail() {
  detailSeq++;
  openTaskId = null;
  forgetDecisionForm();
  detailEl.replaceChildren();
  delete detailEl.dataset.key;
}

/** The page skeleton for one item: slots refreshed in place, so a typed comment survives live updates. */
function skeleton(key: string): Slots {
  if (detailEl.dataset.key !== key) {
    detailEl.dataset.key = key;
    forgetDecisionForm();
    const back = h("a", { href: listHref(lastListView), "data-nav": true, "data-back": true, id: "back", class: "back" }, "← Back to the list");
    const article = h("article", { class: "detail", "aria-labelledby": "detail-title" });
    for (const slot of ["head", "decide", "task", "history"]) article.append(h("div", { class: `slot-${slot}`, id: `slot-${slot}` }));
    detailEl.replaceChildren(back, article);
  }
  return { head: byId("slot-head"), decide: byId("slot-decide"), task: byId("slot-task"), history: byId("slot-history") };
}

/** Loads what the route names (an approval with its task, or a task) and shows it. */
export async function loadDetail(moveFocus: boolean) {
  const r = route;
  if (r.kind === "list") return;
  const seq = ++detailSeq;
  const key = `${r.kind}:${r.id}`;
  if (detailEl.dataset.key !== key) fill(skeleton(key).head, h("p", { class: "empty" }, "Loading…"));
  try {
    if (r.kind === "approval") {
      const approval = await api<Approval>(pathWith(ENDPOINTS.getApproval.path, { id: r.id }));
      const task = await api<TaskDetail>(pathWith(ENDPOINTS.getTask.path, { id: approval.task_id })).catch(asApiError);
      if (seq !== detailSeq) return;
      openTaskId = approval.task_id;
      renderApproval(skeleton(key), approval, task);
    } else {
      const task = await api<TaskDetail>(pathWith(ENDPOINTS.getTask.path, { id: r.id }));
      if (seq !== detailSeq) return;
      openTaskId = task.task_id;
      renderTask(skeleton(key), task);
    }
  } catch (e) {
    if (seq !== detailSeq) return;
    const err = asApiError(e);
    const slots = skeleton(key);
    const title = err.status === 404 ? "Not found" : err.status === 403 ? "Not yours to see" : "Could not load this";
    fill(
      slots.head,
      h("h1", { id: "detail-title", tabindex: -1 }, title),
      h("p", { class: "error" }, err.message, err.traceId && h("code", {}, ` Trace id: ${err.traceId}`)),
    );
    for (const slot of [slots.decide, slots.task, slots.history]) fill(slot);
  }
  if (moveFocus && seq === detailSeq) byId("detail-title")?.focus();
}

function renderApproval(slots: Slots, a: Approval, task: TaskDetail | ApiError) {
  const mine = a.requested_by === me.subject;
  const title = approvalTitle(a);
  fill(
    slots.head,
    h("p", { class: "eyebrow" }, "Approval ", badge(a.status)),
    h("h1", { id: "detail-title", tabindex: -1, dir: "auto", "data-approval-id": a.approval_id }, title),
    h(
      "dl",
      { class: "facts" },
      // The whole reason, where the title had to shorten it.
      title !== a.reason && fact("Why", prose(a.reason)),
      fact("Asked by", who(a.requested_by), mine && " (you)"),
      fact("Approver role", a.approver_role),
      fact("Asked", timeEl(a.created_at, true)),
      a.comments && fact(a.status === "pending" ? "Note from the asker" : "Decision comment", prose(a.comments)),
      approvalClock(a).length > 0 && fact("Time limit", approvalClock(a).join("; ")),
      fact("Approval id", h("code", {}, a.approval_id)),
    ),
  );
  renderDecision(slots.decide, a, task);
  if (task instanceof ApiError) {
    fill(slots.task, h("h2", {}, "Task"), h("p", { class: "error" }, `Could not load task ${a.task_id}: ${task.message}`));
    return fill(slots.history);
  }
  const others = task.approvals.filter((x) => x.approval_id !== a.approval_id);
  fill(
    slots.task,
    h("h2", { id: "h-task" }, "The task"),
    ...taskFacts(task),
    others.length > 0 && h("h2", {}, "Other approvals on this task"),
    others.length > 0 && h("ul", { class: "cards" }, ...others.map(approvalRow)),
  );
  fill(slots.history, ...historyList(task.history, a.approval_id));
}

function renderTask(slots: Slots, t: TaskDetail) {
  fill(
    slots.head,
    h("p", { class: "eyebrow" }, "Task ", badge(t.status)),
    h("h1", { id: "detail-title", tabindex: -1, dir: "auto", "data-task-id": t.task_id }, t.task_type),
    t.description && h("p", { class: "prose lead", dir: "auto" }, t.description),
    t.may_retry && retryButton(t),
  );
  fill(
    slots.decide,
    ...renderThread(t),
    ...renderTree(t),
    h("h2", {}, "Approvals"),
    t.approvals.length ? h("ul", { class: "cards" }, ...t.approvals.map(approvalRow)) : h("p", { class: "hint" }, "No approval has been asked for this task."),
  );
  fill(slots.task, h("h2", {}, "Details"), ...taskFacts(t));
  fill(slots.history, ...historyList(t.history));
}

/** For a dead letter, to those the controller says may: put it back to pending with a fresh budget of attempts. */
function retryButton(t: TaskDetail): HTMLElement {
  const said = h("p", { class: "hint", id: "retry-outcome", role: "status" });
  const button = h("button", { type: "button", id: "retry-task", class: "approve" }, "Retry: put it back to pending");
  const key = crypto.randomUUID();
  button.addEventListener("click", async () => {
    button.setAttribute("disabled", "");
    try {
      await api(pathWith(ENDPOINTS.retryTask.path, { id: t.task_id }), { body: {}, key });
      await loadDetail(false);
    } catch (e) {
      said.textContent = asApiError(e).message;
      button.removeAttribute("disabled");
    }
  });
  return h("div", { class: "retry" }, h("p", {}, "All its attempts are used. "), button, said);
}

function taskFacts(t: TaskDetail): Child[] {
  return [
    h(
      "dl",
      { class: "facts" },
      fact("Type", h("span", { dir: "auto" }, t.task_type)),
      fact("Status", badge(t.status)),
      fact("Priority", badge(t.priority, "priority")),
      t.description && fact("Description", prose(t.description)),
      fact("Sent by", who(t.source), t.source === me.subject && " (you)"),
      fact("For role", t.target),
      t.claimed_by && fact("Claimed by", who(t.claimed_by)),
      ...taskClocks(t).map((line) => {
        const [name, ...rest] = line.split(": ");
        return fact(name!, rest.join(": "));
      }),
      fact("Created", timeEl(t.created_at, true)),
      fact("Updated", timeEl(t.updated_at, true)),
      fact("Task id", h("code", {}, t.task_id)),
    ),
    jsonBlock("Data", t.data),
    jsonBlock("Context", t.context),
    t.result && jsonBlock("Result", t.result),
    t.error && h("h3", {}, "Error"),
    t.error && h("p", { class: "prose error", dir: "auto" }, t.error),
  ];
}

/** JSON as text in a <pre>: wraps, scrolls if long (focusable, so the keyboard can scroll it). */
function jsonBlock(label: string, value: Record<string, unknown>): HTMLElement {
  const empty = Object.keys(value).length === 0;
  return h(
    "div",
    { class: "json" },
    h("h3", {}, label),
    empty
      ? h("p", { class: "hint" }, "(none)")
      : h("pre", { tabindex: 0, "aria-label": label, "data-json": label.toLowerCase() }, JSON.stringify(value, null, 2)),
  );
}

/** Every action has a name here: a new one in EVENT_ACTIONS does not compile until it is named. */
const ACTION_NAMES: Record<(typeof EVENT_ACTIONS)[number], string> = {
  "task.created": "Sent",
  "task.claimed": "Claimed",
  "task.completed": "Completed",
  "task.failed": "Failed",
  "task.cancelled": "Cancelled",
  "approval.requested": "Approval asked",
  "approval.approved": "Approved",
  "approval.rejected": "Rejected",
  "task.lease_lapsed": "Lease lapsed",
  "task.retry_scheduled": "Retry scheduled",
  "task.dead_lettered": "Dead-lettered",
  "task.expired": "Deadline missed",
  "task.revived": "Put back",
  "task.progress": "Progress",
  "task.input_required": "Asked the sender",
  "task.answered": "Answered",
  "task.noted": "Note",
  "approval.expired": "Approval expired",
  "approval.escalated": "Escalated",
};
const actionName = (action: string) => (ACTION_NAMES as Record<string, string>)[action] ?? action;

function historyList(entries: HistoryEntry[], approvalId?: string): Child[] {
  const items = entries.map((e) => {
    const ours = approvalId !== undefined && e.approval_id === approvalId;
    return h(
      "li",
      { "data-action": e.action, class: ours ? "ours" : null },
      h("strong", {}, actionName(e.action)),
      " by ",
      who(e.actor),
      ours && h("span", { class: "tag" }, "this approval"),
      h("br"),
      timeEl(e.at, true),
    );
  });
  return [
    h("h2", { id: "h-history" }, "History"),
    items.length ? h("ol", { class: "history" }, ...items) : h("p", { class: "hint" }, "Nothing has happened yet."),
  ];
}
