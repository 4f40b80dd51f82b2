/** A task's thread (questions, answers, notes), the sender's reply box, and the task's place in its tree. */
import { ENDPOINTS, pathWith } from "../contract/paths.ts";
import type { Task, TaskDetail, ThreadMessage } from "../contract/schemas.ts";
import { api, asApiError } from "./api.ts";
import { loadDetail } from "./detail.ts";
import { badge, type Child, h, prose, who } from "./dom.ts";
import { taskHref } from "./lists.ts";
import { say, sayError } from "./messages.ts";
import { me } from "./session.ts";
import { timeEl } from "./times.ts";

const KIND_NAMES: Record<ThreadMessage["kind"], string> = { question: "asked", answer: "answered", note: "noted" };

/** The reply box on show, kept across live refreshes so a typed answer survives them. */
let replyForm: { taskId: string; form: HTMLFormElement } | null = null;

export function renderThread(t: TaskDetail): Child[] {
  const mayReply = t.status === "input_required" && t.source === me.subject;
  if (!mayReply) replyForm = null;
  else if (replyForm?.taskId !== t.task_id) replyForm = { taskId: t.task_id, form: buildReplyForm(t.task_id) };
  if (t.thread.length === 0 && !mayReply) return [];
  const items = t.thread.map((m) =>
    h(
      "li",
      { "data-kind": m.kind },
      who(m.author),
      ` ${KIND_NAMES[m.kind]} `,
      timeEl(m.at, true),
      h("br"),
      prose(m.text),
      m.data && h("pre", { tabindex: 0 }, JSON.stringify(m.data, null, 2)),
    ),
  );
  return [h("h2", { id: "h-thread" }, "Questions and notes"), items.length > 0 && h("ol", { class: "history thread" }, ...items), replyForm?.form];
}

function buildReplyForm(taskId: string): HTMLFormElement {
  const form = h(
    "form",
    { class: "decide", id: "reply-form" },
    h("label", { for: "reply" }, "Your answer"),
    h("p", { class: "hint", id: "reply-hint" }, "The task waits for it; once sent, it goes back to whoever asked."),
    h("textarea", { id: "reply", name: "answer", rows: 3, maxlength: 16384, required: true, "aria-describedby": "reply-hint" }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Send answer")),
  );
  // One key per answer typed: a retry after a network error counts once.
  let sent: { answer: string; key: string } | null = null;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const answer = (form.elements.namedItem("answer") as HTMLTextAreaElement).value.trim();
    if (!answer) return;
    if (sent?.answer !== answer) sent = { answer, key: crypto.randomUUID() };
    try {
      await api<Task>(pathWith(ENDPOINTS.replyToTask.path, { id: taskId }), { body: { answer }, key: sent.key });
      say("Answer sent; the task is back with its holder.", "ok");
      replyForm = null;
    } catch (err) {
      sayError(asApiError(err));
    }
    await loadDetail(false);
  });
  return form;
}

/** The task's parent, and its subtasks with their states. */
export function renderTree(t: TaskDetail): Child[] {
  if (t.parent_task_id === null && t.children.length === 0) return [];
  const link = (id: string, text: Child) => h("a", { href: taskHref(id), "data-nav": true }, text);
  return [
    h("h2", { id: "h-tree" }, "Subtasks"),
    t.parent_task_id && h("p", {}, "Part of ", link(t.parent_task_id, h("code", {}, t.parent_task_id))),
    t.children.length > 0 &&
      h(
        "ul",
        { class: "tree" },
        ...t.children.map((c) =>
          h(
            "li",
            { "data-task-id": c.task_id },
            link(c.task_id, h("span", { dir: "auto" }, c.task_type)),
            " ",
            badge(c.status),
            ` for role ${c.target}`,
            c.claimed_by && ", claimed by ",
            c.claimed_by && who(c.claimed_by),
          ),
        ),
      ),
  ];
}
