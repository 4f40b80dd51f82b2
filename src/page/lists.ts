/** The four lists: approvals waiting for me, my decisions, tasks I sent, tasks for my roles; and who serves each role. */
import { ENDPOINTS } from "../contract/paths.ts";
import type { Approval, RoleList, RoleServing, Task } from "../contract/schemas.ts";
import { api, asApiError } from "./api.ts";
import { badge, byId, type Child, clip, enc, h, present, rolesPhrase, who } from "./dom.ts";
import { sayError } from "./messages.ts";
import { setTitle } from "./routing.ts";
import { me } from "./session.ts";
import { timeEl } from "./times.ts";

type Paged<T> = { items: T[]; next_cursor: string | null };
export type ListKey = "pending" | "decided" | "sent" | "for";

type ListSpec<T> = {
  key: ListKey;
  path: string;
  query: () => Record<string, string>;
  id: (item: T) => string;
  row: (item: T) => HTMLLIElement;
  empty: () => string;
  rendered?: (list: PagedList<T>) => void;
};

/** A list of the API's pages: the first page refreshes in place, "Show more" appends. */
class PagedList<T> {
  items: T[] = [];
  next: string | null = null;
  #seq = 0;
  readonly #ul: HTMLUListElement;
  readonly #note = h("p", { class: "empty" }, "Loading…");
  readonly #more = h("button", { type: "button", class: "more quiet", hidden: true }, "Show more");

  constructor(readonly spec: ListSpec<T>) {
    this.#ul = byId<HTMLUListElement>(`list-${spec.key}`);
    this.#note.id = `empty-${spec.key}`;
    this.#ul.after(this.#note, this.#more);
    this.#more.addEventListener("click", () => void this.#loadMore());
  }

  #url(extra: Record<string, string>) {
    return `${this.spec.path}?${new URLSearchParams({ ...this.spec.query(), ...extra })}`;
  }

  /** Reloads from the top, as many items as are shown now (so "Show more" is not undone). */
  async refresh() {
    const seq = ++this.#seq;
    try {
      const page = await api<Paged<T>>(this.#url({ limit: String(Math.min(200, Math.max(50, this.items.length))) }));
      if (seq !== this.#seq) return; // a newer refresh is under way
      this.items = page.items;
      this.next = page.next_cursor;
      this.#render();
    } catch (e) {
      if (seq === this.#seq) this.#failed(e);
    }
  }

  async #loadMore() {
    if (!this.next) return;
    this.#more.disabled = true;
    try {
      const page = await api<Paged<T>>(this.#url({ cursor: this.next }));
      this.items.push(...page.items);
      this.next = page.next_cursor;
      this.#render();
    } catch (e) {
      sayError(e, "Could not load more: ");
    } finally {
      this.#more.disabled = false;
    }
  }

  #render() {
    const rows = this.items.map((item) => {
      const li = this.spec.row(item);
      li.dataset.key = this.spec.id(item);
      return li;
    });
    replaceKeepingFocus(this.#ul, rows);
    this.#ul.hidden = rows.length === 0;
    this.#note.hidden = rows.length > 0;
    this.#note.className = "empty";
    this.#note.textContent = this.spec.empty();
    this.#more.hidden = !this.next;
    this.spec.rendered?.(this);
  }

  #failed(e: unknown) {
    const err = asApiError(e);
    if (this.items.length) return sayError(err, "Could not refresh a list: ");
    this.#note.hidden = false;
    this.#note.className = "empty error";
    this.#note.replaceChildren(...present([`Could not load this list: ${err.message}`, err.traceId && h("code", {}, ` ${err.traceId}`)]));
  }
}

/** Re-renders rows without losing keyboard focus on the row the person was on. */
function replaceKeepingFocus(ul: HTMLElement, rows: HTMLLIElement[]) {
  const active = document.activeElement;
  const key = active && ul.contains(active) ? active.closest<HTMLElement>("[data-key]")?.dataset.key : undefined;
  ul.replaceChildren(...rows);
  if (key !== undefined)
    rows
      .find((r) => r.dataset.key === key)
      ?.querySelector("a")
      ?.focus();
}

export const approvalHref = (id: string) => `/?approval=${enc(id)}`;
export const taskHref = (id: string) => `/?task=${enc(id)}`;

/** An approval is titled by its reason, the one text that is its own, wherever it is shown. */
export const approvalTitle = (a: Approval) => clip(a.reason, 280);

export function approvalRow(a: Approval): HTMLLIElement {
  const decided = a.status !== "pending";
  const meta: Child[] = decided
    ? [badge(a.status), " by ", who(a.decided_by ?? "?"), " · ", timeEl(a.decided_at ?? a.created_at), " · asked by ", who(a.requested_by)]
    : a.may_decide.refusal === "asked_for_it"
      ? ["Asked by you · another holder of role ", a.approver_role, " decides · ", timeEl(a.created_at)]
      : ["Asked by ", who(a.requested_by), " · role ", a.approver_role, " · ", timeEl(a.created_at)];
  return h(
    "li",
    { class: "card", "data-approval-id": a.approval_id, "data-status": a.status, "data-mine": a.requested_by === me.subject },
    h(
      "a",
      { href: approvalHref(a.approval_id), "data-nav": true },
      h("span", { class: "title", dir: "auto" }, approvalTitle(a)),
      h("span", { class: "meta" }, ...meta),
      decided && a.comments ? h("span", { class: "quote", dir: "auto" }, clip(a.comments, 200)) : null,
    ),
  );
}

function taskRow(t: Task, sentByMe: boolean): HTMLLIElement {
  const where: Child[] = sentByMe ? ["To role ", t.target] : ["From ", who(t.source), " to role ", t.target];
  return h(
    "li",
    { class: "card", "data-task-id": t.task_id, "data-status": t.status },
    h(
      "a",
      { href: taskHref(t.task_id), "data-nav": true },
      h("span", { class: "title" }, h("span", { dir: "auto" }, t.task_type), " ", badge(t.status), t.priority !== "normal" && badge(t.priority, "priority")),
      t.description && h("span", { class: "desc", dir: "auto" }, clip(t.description, 200)),
      h("span", { class: "meta" }, ...where, t.claimed_by && " · claimed by ", t.claimed_by && who(t.claimed_by), " · ", timeEl(t.created_at)),
    ),
  );
}

export const pendingList = new PagedList<Approval>({
  key: "pending",
  path: ENDPOINTS.listApprovals.path,
  query: () => ({ for: "me" }),
  id: (a) => a.approval_id,
  row: approvalRow,
  empty: () =>
    me.roles.length
      ? `Nothing is waiting for you. Approvals asked of ${rolesPhrase(me.roles)} appear here as they come.`
      : "Nothing can wait for you: you hold no roles. Ask whoever runs Agent Mesh for the role approvals are asked of.",
  rendered: (list) => {
    // What the person can act on, as the controller judged it (their own requests wait for someone else).
    const waiting = list.items.filter((a) => a.may_decide.allowed).length;
    const count = waiting ? `${waiting}${list.next ? "+" : ""}` : "";
    byId("pending-count").textContent = count;
    byId("pending-count").setAttribute("aria-label", count ? `${count} waiting` : "");
    setTitle();
  },
});

export const lists: Record<ListKey, { refresh(): Promise<void> }> = {
  pending: pendingList,
  decided: new PagedList<Approval>({
    key: "decided",
    path: ENDPOINTS.listApprovals.path,
    query: () => ({ decided_by: me.subject }),
    id: (a) => a.approval_id,
    row: approvalRow,
    empty: () => "You have not decided any approvals yet. Those you approve or reject appear here.",
  }),
  sent: new PagedList<Task>({
    key: "sent",
    path: ENDPOINTS.listTasks.path,
    query: () => ({ source: me.subject, order: "desc" }),
    id: (t) => t.task_id,
    row: (t) => taskRow(t, true),
    empty: () => `No tasks sent as ${me.subject} yet. Tasks sent with your identity appear here, newest first.`,
  }),
  for: new PagedList<Task>({
    key: "for",
    path: ENDPOINTS.listTasks.path,
    query: () => ({ for: "me", order: "desc" }),
    id: (t) => t.task_id,
    row: (t) => taskRow(t, false),
    empty: () =>
      me.roles.length
        ? `No tasks for your ${rolesPhrase(me.roles)} yet. They appear here as they are sent.`
        : "You hold no roles, so no tasks are sent to you.",
  }),
};

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

function roleRow(r: RoleServing): HTMLLIElement {
  const serving = r.workers + r.sessions > 0;
  return h(
    "li",
    { class: "card", "data-role": r.role },
    h("span", { class: "title" }, r.role, " ", badge(serving ? "served" : "unserved")),
    h(
      "span",
      { class: "meta" },
      serving ? `${plural(r.workers, "worker")}, ${plural(r.sessions, "waiting session")} · last seen ` : "No one serves it now · last seen ",
      timeEl(r.last_seen ?? r.servers[0]!.last_seen),
    ),
  );
}

/** Who serves each role: a short list in the tasks view, so a person sees where a task will wait. */
export async function refreshRoles() {
  try {
    const { items } = await api<RoleList>(ENDPOINTS.listRoles.path);
    replaceKeepingFocus(byId("list-roles"), items.map(roleRow));
    byId("empty-roles").hidden = items.length > 0;
  } catch (e) {
    sayError(e, "Could not load who serves each role: ");
  }
}

export const refreshAllLists = () => Promise.all([...Object.values(lists).map((l) => l.refresh()), refreshRoles()]);
