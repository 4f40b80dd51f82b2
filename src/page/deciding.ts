/** Approving or rejecting: the form while the person may decide, and sending what they chose. */
import { ENDPOINTS, pathWith } from "../contract/paths.ts";
import type { Approval, Decision, TaskDetail } from "../contract/schemas.ts";
import { api, ApiError, asApiError } from "./api.ts";
import { loadDetail } from "./detail.ts";
import { byId, capital, clip, fill, h, rolesPhrase, who } from "./dom.ts";
import { approvalHref, lists, pendingList } from "./lists.ts";
import { say, sayError } from "./messages.ts";
import { me } from "./session.ts";
import { timeEl } from "./times.ts";

/** The form on show, kept across live refreshes so a typed comment survives them. */
let decisionForm: { approvalId: string; form: HTMLFormElement } | null = null;

/** Another item is shown: its form, if any, is built anew. */
export function forgetDecisionForm() {
  decisionForm = null;
}

/** The form while the person may decide; otherwise the outcome or why they cannot. */
export function renderDecision(slot: HTMLElement, a: Approval, task: TaskDetail | ApiError) {
  const whyNot = whyCannotDecide(a, task);
  if (whyNot === null) {
    if (decisionForm?.approvalId !== a.approval_id) {
      decisionForm = { approvalId: a.approval_id, form: buildDecisionForm(a) };
      fill(slot, decisionForm.form);
    }
    return;
  }
  const lostComment = decisionForm?.approvalId === a.approval_id && commentOf(decisionForm.form).trim() !== "";
  decisionForm = null;
  if (lostComment && a.decided_by !== me.subject) say(`This approval was just ${a.status} by ${a.decided_by}; your comment was not sent.`, "error");
  fill(slot, a.status === "pending" ? h("p", { class: "why-not", id: "cannot-decide" }, whyNot) : outcomeBox(a));
}

/** The controller's own answer to whether this person may decide now, in the page's words; null when they may. */
function whyCannotDecide(a: Approval, task: TaskDetail | ApiError): string | null {
  switch (a.may_decide.refusal) {
    case undefined:
      return null;
    case "already_decided":
      return `Already ${a.status}; a decision is made once.`;
    case "expired":
      return "It expired undecided; whoever asked may ask again.";
    case "not_an_approver":
      return `Only holders of role ${a.approver_role} may decide this approval. ${me.roles.length ? `You hold ${rolesPhrase(me.roles)}.` : "You hold no roles."}`;
    case "asked_for_it":
      return `You asked for this approval yourself, so another holder of role ${a.approver_role} must decide it.`;
    case "task_finished":
      return `The task is already ${task instanceof ApiError ? "finished" : task.status}, so this approval no longer decides anything.`;
  }
}

const commentOf = (form: HTMLFormElement) => (form.elements.namedItem("comments") as HTMLTextAreaElement).value;

function buildDecisionForm(a: Approval): HTMLFormElement {
  const form = h(
    "form",
    { class: "decide", id: "decision-form", "aria-labelledby": "h-decide" },
    h("h2", { id: "h-decide" }, "Your decision"),
    h("label", { for: "comment" }, "Comment"),
    h("p", { class: "hint", id: "comment-hint" }, "Optional. The asker and the audit trail see it."),
    h("textarea", { id: "comment", name: "comments", rows: 4, maxlength: 16384, "aria-describedby": "comment-hint" }),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", value: "approved", class: "approve" }, h("span", { "aria-hidden": "true" }, "✓ "), "Approve"),
      h("button", { type: "submit", value: "rejected", class: "reject" }, h("span", { "aria-hidden": "true" }, "✕ "), "Reject"),
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const button = e.submitter;
    if (button instanceof HTMLButtonElement && (button.value === "approved" || button.value === "rejected"))
      void decide(a.approval_id, button.value, form, button);
  });
  return form;
}

function outcomeBox(a: Approval): HTMLElement {
  const byMe = a.decided_by === me.subject;
  const next = pendingList.items.find((x) => x.approval_id !== a.approval_id && x.may_decide.allowed);
  return h(
    "div",
    { class: "outcome", id: "outcome", "data-status": a.status, tabindex: -1 },
    h(
      "p",
      {},
      byMe ? `You ${a.status} this` : `${capital(a.status)} by `,
      !byMe && who(a.decided_by ?? "?"),
      a.decided_at && ", ",
      a.decided_at && timeEl(a.decided_at, true),
      ".",
    ),
    next
      ? h("p", {}, "Next waiting: ", h("a", { href: approvalHref(next.approval_id), "data-nav": true, dir: "auto" }, clip(next.reason, 120)))
      : byMe && h("p", {}, "Nothing else is waiting for you."),
  );
}

/** True while a decision is on its way: its answer refreshes the detail, not live events. */
export let sending = false;
/** The decision being sent: retried after a network error with the same key, so it counts once. */
let attempt: { approvalId: string; decision: Decision; comments: string; key: string } | null = null;

async function decide(approvalId: string, decision: Decision, form: HTMLFormElement, button: HTMLButtonElement) {
  if (sending) return;
  const comments = commentOf(form);
  if (!attempt || attempt.approvalId !== approvalId || attempt.decision !== decision || attempt.comments !== comments) {
    attempt = { approvalId, decision, comments, key: crypto.randomUUID() };
  }
  setSending(form, true);
  say(decision === "approved" ? "Sending your approval…" : "Sending your rejection…");
  let reachable = true;
  try {
    const decided = await api<Approval>(pathWith(ENDPOINTS.decideApproval.path, { id: approvalId }), { body: { decision, comments }, key: attempt.key });
    attempt = null;
    say(`${capital(decided.status)}: ${clip(decided.reason, 120)}`, "ok");
  } catch (e) {
    const err = asApiError(e);
    reachable = err.status !== 0;
    if (reachable) attempt = null;
    if (!reachable)
      say(
        `${err.message} Your decision may not be recorded; press ${decision === "approved" ? "Approve" : "Reject"} again to retry — it counts once.`,
        "error",
      );
    else if (err.status === 409) say(`Already decided: ${err.message} Showing it as it stands now.`, "error", err.traceId);
    else sayError(err);
  }
  sending = false;
  setSending(form, false);
  if (!reachable) return button.focus();
  // Show the approval as it now stands (the outcome, or who beat us to it), and the lists.
  await Promise.all([lists.pending.refresh(), lists.decided.refresh()]);
  await loadDetail(false);
  (document.getElementById("outcome") ?? (form.isConnected ? button : byId("detail-title")))?.focus();
}

function setSending(form: HTMLFormElement, busy: boolean) {
  sending = busy;
  form.setAttribute("aria-busy", String(busy));
  for (const el of form.querySelectorAll<HTMLButtonElement | HTMLTextAreaElement>("button, textarea")) {
    if (el instanceof HTMLTextAreaElement) el.readOnly = busy;
    else el.disabled = busy;
  }
}
