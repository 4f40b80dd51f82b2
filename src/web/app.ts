/**
 * The approvals page. Served after type stripping, not bundled: this file must not
 * import anything at run time (type imports are erased).
 *
 * Everything the API returns was written by agents and is hostile input: it reaches
 * the DOM only as text (textContent, attribute values we build), never as markup.
 */
import type { Approval, ChangeEvent, Decision, HistoryEntry, Me, Task, TaskDetail } from "../lib/schemas.ts";

// ── DOM helpers ──────────────────────────────────────────────────────────────

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Bidi controls (U+202A–E, U+2066–9) could make an agent's text read differently than it is: show them as code points. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;
const visible = (text: string) => text.replace(BIDI_CONTROLS, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase()}>`);

/** The children to append; text is passed through `visible`. */
const present = (children: Child[]) =>
  children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false).map((c) => (typeof c === "string" ? visible(c) : c));

/** Builds an element; strings become text nodes, so nothing here can inject markup. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...present(children));
  return el;
}

const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const enc = encodeURIComponent;
const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
/** Someone's name; `dir=auto` keeps right-to-left tricks in it from reordering the text around it. */
const who = (subject: string) => h("strong", { dir: "auto" }, subject);
const prose = (text: string) => h("span", { class: "prose", dir: "auto" }, text);
const badge = (value: string, kind = "status") => h("span", { class: "badge", [`data-${kind}`]: value }, capital(value));
const fact = (term: string, ...desc: Child[]) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...desc));
const listFormat = new Intl.ListFormat("en", { type: "conjunction" });
const rolesPhrase = (roles: string[]) => `${roles.length === 1 ? "role" : "roles"} ${listFormat.format(roles)}`;
const TERMINAL: readonly string[] = ["completed", "failed", "cancelled"];

// ── times, in the reader's locale ────────────────────────────────────────────

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function relative(ms: number): string {
  const seconds = Math.round((ms - Date.now()) / 1000);
  const size = Math.abs(seconds);
  if (size < 45) return relativeFormat.format(0, "second");
  if (size < 2700) return relativeFormat.format(Math.round(seconds / 60), "minute");
  if (size < 79200) return relativeFormat.format(Math.round(seconds / 3600), "hour");
  return relativeFormat.format(Math.round(seconds / 86400), "day");
}

/** A <time>: relative in lists ("2 minutes ago"), absolute and relative with `full`. */
function timeEl(iso: string, full = false): HTMLTimeElement {
  const el = h("time", { datetime: iso, "data-full": full });
  setTimeText(el);
  return el;
}

function setTimeText(el: HTMLTimeElement) {
  const ms = Date.parse(el.dateTime);
  if (Number.isNaN(ms)) return void (el.textContent = el.dateTime);
  el.title = absolute.format(ms);
  el.textContent = el.hasAttribute("data-full") ? `${el.title} (${relative(ms)})` : relative(ms);
}

// ── the API ──────────────────────────────────────────────────────────────────

/** A failed call: `status` 0 means the controller could not be reached at all. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly traceId: string | null = null,
  ) {
    super(message);
  }
}

const asApiError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, e instanceof Error ? e.message : String(e)));
const csrfToken = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
let leaving = false;

/** The session has ended: sign in again, then come back here. */
function toSignIn() {
  if (leaving) return;
  leaving = true;
  location.assign(`/login?next=${enc(location.pathname + location.search)}`);
}

/** GET, or POST when `post` is given (with the CSRF token and, for changes, an Idempotency-Key). */
async function api<T>(path: string, post?: { body: unknown; key: string }): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (post) Object.assign(headers, { "Content-Type": "application/json", "X-CSRF-Token": csrfToken, "Idempotency-Key": post.key });
  let res: Response;
  try {
    res = await fetch(path, { method: post ? "POST" : "GET", headers, body: post && JSON.stringify(post.body), credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError(0, "Could not reach the controller.");
  }
  if (res.status === 401) {
    toSignIn();
    throw new ApiError(401, "Your sign-in has ended; taking you to sign in again.");
  }
  if (!res.ok) throw await problemOf(res);
  return (await res.json()) as T;
}

/** An RFC 9457 problem as an ApiError: its `detail` says what to do. */
async function problemOf(res: Response): Promise<ApiError> {
  try {
    const p = (await res.json()) as { detail?: unknown; trace_id?: unknown; errors?: { field: string; message: string }[] };
    const fields = Array.isArray(p.errors) ? p.errors.map((f) => `${f.field}: ${f.message}`).join("; ") : "";
    const detail = typeof p.detail === "string" && p.detail ? p.detail : `The controller answered ${res.status}.`;
    return new ApiError(res.status, fields && !detail.includes(fields) ? `${detail} (${fields})` : detail, typeof p.trace_id === "string" ? p.trace_id : null);
  } catch {
    return new ApiError(res.status, `The controller answered ${res.status} ${res.statusText}.`);
  }
}

// ── messages ─────────────────────────────────────────────────────────────────

const messageEl = byId("message");
let messageTimer = 0;

/** Shows a message in the status region; errors stay until dismissed or replaced. */
function say(text: string, kind: "info" | "ok" | "error" = "info", traceId: string | null = null) {
  clearTimeout(messageTimer);
  messageEl.dataset.kind = kind;
  messageEl.replaceChildren(
    h("p", {}, text, traceId && h("span", { class: "trace" }, " Trace id: ", h("code", {}, traceId))),
    h("button", { type: "button", class: "dismiss quiet", "aria-label": "Dismiss message" }, "×"),
  );
  if (kind !== "error") messageTimer = window.setTimeout(clearMessage, 10_000);
}

function sayError(e: unknown, prefix = "") {
  const err = asApiError(e);
  say(prefix + err.message, "error", err.traceId);
}

function clearMessage() {
  messageEl.replaceChildren();
  delete messageEl.dataset.kind;
}

// ── who is signed in ─────────────────────────────────────────────────────────

let me: Me = { subject: "", roles: [], is_admin: false };

function showMe() {
  const roles = [...me.roles, ...(me.is_admin ? ["admin"] : [])].flatMap((r) => [" ", h("span", { class: "role" }, r)]);
  const label = roles.length ? h("span", { class: "visually-hidden" }, ", roles:") : " (no roles)";
  byId("who").replaceChildren("Signed in as ", who(me.subject), label, ...roles);
  byId("who").dataset.subject = me.subject;
  byId("pending-hint").textContent = me.roles.length
    ? `Approvals asked of your ${rolesPhrase(me.roles)}, newest first.`
    : "You hold no roles, so no approvals can be asked of you.";
}

let eventSource: EventSource | null = null;

async function signOut(button: HTMLButtonElement) {
  button.disabled = true;
  try {
    const res = await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken }, credentials: "same-origin" });
    if (res.ok || res.status === 401) {
      eventSource?.close();
      leaving = true;
      // Not /login: with an identity provider that would sign them straight back in.
      return location.assign("/signed-out");
    }
    sayError(await problemOf(res));
  } catch {
    say("Could not reach the controller to sign out. Try again.", "error");
  }
  button.disabled = false;
}

// ── lists ────────────────────────────────────────────────────────────────────

type Paged<T> = { items: T[]; next_cursor: string | null };
type ListKey = "pending" | "decided" | "sent" | "for";

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
  if (key !== undefined) rows.find((r) => r.dataset.key === key)?.querySelector("a")?.focus();
}

const approvalHref = (id: string) => `/?approval=${enc(id)}`;
const taskHref = (id: string) => `/?task=${enc(id)}`;

function approvalRow(a: Approval): HTMLLIElement {
  const decided = a.status !== "pending";
  const meta: Child[] = decided
    ? [badge(a.status), " by ", who(a.decided_by ?? "?"), " · ", timeEl(a.decided_at ?? a.created_at), " · asked by ", who(a.requested_by)]
    : a.requested_by === me.subject
      ? ["Asked by you · another holder of role ", a.approver_role, " decides · ", timeEl(a.created_at)]
      : ["Asked by ", who(a.requested_by), " · role ", a.approver_role, " · ", timeEl(a.created_at)];
  return h(
    "li",
    { class: "card", "data-approval-id": a.approval_id, "data-status": a.status, "data-mine": a.requested_by === me.subject },
    h(
      "a",
      { href: approvalHref(a.approval_id), "data-nav": true },
      h("span", { class: "title", dir: "auto" }, clip(a.reason, 280)),
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

const pendingList = new PagedList<Approval>({
  key: "pending",
  path: "/approvals",
  query: () => ({ for: "me" }),
  id: (a) => a.approval_id,
  row: approvalRow,
  empty: () =>
    me.roles.length
      ? `Nothing is waiting for you. Approvals asked of ${rolesPhrase(me.roles)} appear here as they come.`
      : "Nothing can wait for you: you hold no roles. Ask whoever runs Agent Mesh for the role approvals are asked of.",
  rendered: (list) => {
    // What the person can act on: their own requests wait for someone else.
    const waiting = list.items.filter((a) => a.requested_by !== me.subject).length;
    const count = waiting ? `${waiting}${list.next ? "+" : ""}` : "";
    byId("pending-count").textContent = count;
    byId("pending-count").setAttribute("aria-label", count ? `${count} waiting` : "");
    setTitle();
  },
});

const lists: Record<ListKey, { refresh(): Promise<void> }> = {
  pending: pendingList,
  decided: new PagedList<Approval>({
    key: "decided",
    path: "/approvals",
    query: () => ({ decided_by: me.subject }),
    id: (a) => a.approval_id,
    row: approvalRow,
    empty: () => "You have not decided any approvals yet. Those you approve or reject appear here.",
  }),
  sent: new PagedList<Task>({
    key: "sent",
    path: "/tasks",
    query: () => ({ source: me.subject, order: "desc" }),
    id: (t) => t.task_id,
    row: (t) => taskRow(t, true),
    empty: () => `No tasks sent as ${me.subject} yet. Tasks sent with your identity appear here, newest first.`,
  }),
  for: new PagedList<Task>({
    key: "for",
    path: "/tasks",
    query: () => ({ for: "me", order: "desc" }),
    id: (t) => t.task_id,
    row: (t) => taskRow(t, false),
    empty: () =>
      me.roles.length ? `No tasks for your ${rolesPhrase(me.roles)} yet. They appear here as they are sent.` : "You hold no roles, so no tasks are sent to you.",
  }),
};

const refreshAllLists = () => Promise.all(Object.values(lists).map((l) => l.refresh()));

// ── routes: the list views, one approval, one task ───────────────────────────

type View = "pending" | "decided" | "tasks";
type Route = { kind: "list"; view: View } | { kind: "approval"; id: string } | { kind: "task"; id: string };
type NavState = { fromList?: boolean } | null;

const VIEW_TITLES: Record<View, string> = { pending: "Waiting for you", decided: "Your decisions", tasks: "Tasks" };
let route: Route = { kind: "list", view: "pending" };
let lastListView: View = "pending";
const listHref = (view: View) => (view === "pending" ? "/" : `/?view=${view}`);

function routeFromUrl(): Route {
  const q = new URLSearchParams(location.search);
  const approval = q.get("approval");
  if (approval) return { kind: "approval", id: approval };
  const task = q.get("task");
  if (task) return { kind: "task", id: task };
  const view = q.get("view");
  return { kind: "list", view: view === "decided" || view === "tasks" ? view : "pending" };
}

function navigate(href: string) {
  history.pushState({ fromList: route.kind === "list" } satisfies NavState, "", href);
  show(routeFromUrl(), true);
}

/** Back to the list: the browser's Back when we came from it (so history stays tidy). */
function goBack() {
  if ((history.state as NavState)?.fromList) history.back();
  else navigate(listHref(lastListView));
}

function setTitle() {
  const count = byId("pending-count").textContent;
  const name = route.kind === "list" ? VIEW_TITLES[route.view] : route.kind === "approval" ? "Approval" : "Task";
  document.title = `${count ? `(${count}) ` : ""}${name} · Agent Mesh`;
}

function show(next: Route, moveFocus: boolean) {
  const left = route;
  route = next;
  for (const view of ["pending", "decided", "tasks"] as const) byId(`view-${view}`).hidden = !(next.kind === "list" && next.view === view);
  detailEl.hidden = next.kind === "list";
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a[data-view]")) {
    if (next.kind === "list" && a.dataset.view === next.view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  setTitle();
  if (next.kind !== "list") return void loadDetail(moveFocus);
  closeDetail();
  lastListView = next.view;
  if (moveFocus) focusInList(next.view, left.kind === "list" ? null : left.id);
}

/** After Back, focus the row the person opened, or else the view's heading. */
function focusInList(view: View, key: string | null) {
  const rows = byId(`view-${view}`).querySelectorAll<HTMLElement>("li[data-key]");
  const row = key === null ? undefined : Array.from(rows).find((r) => r.dataset.key === key);
  (row?.querySelector("a") ?? byId(`h-${view}`)).focus();
}

// ── one approval or task in full ─────────────────────────────────────────────

const detailEl = byId("view-detail");
/** Grows with every load: an answer for an older load is dropped. */
let detailSeq = 0;
/** The task of what is open, to know which live events concern it. */
let openTaskId: string | null = null;
let decisionForm: { approvalId: string; form: HTMLFormElement } | null = null;

function closeDetail() {
  detailSeq++;
  openTaskId = null;
  decisionForm = null;
  detailEl.replaceChildren();
  delete detailEl.dataset.key;
}

/** The page skeleton for one item: slots refreshed in place, so a typed comment survives live updates. */
function skeleton(key: string): Record<"head" | "decide" | "task" | "history", HTMLElement> {
  if (detailEl.dataset.key !== key) {
    detailEl.dataset.key = key;
    decisionForm = null;
    const back = h("a", { href: listHref(lastListView), "data-nav": true, "data-back": true, id: "back", class: "back" }, "← Back to the list");
    const article = h("article", { class: "detail", "aria-labelledby": "detail-title" });
    for (const slot of ["head", "decide", "task", "history"]) article.append(h("div", { class: `slot-${slot}`, id: `slot-${slot}` }));
    detailEl.replaceChildren(back, article);
  }
  return { head: byId("slot-head"), decide: byId("slot-decide"), task: byId("slot-task"), history: byId("slot-history") };
}

/** Replaces a slot's content; focus on an element with an id is put back. */
function fill(slot: HTMLElement, ...nodes: Child[]) {
  const active = document.activeElement;
  const focusedId = active && slot.contains(active) ? active.id : "";
  slot.replaceChildren(...present(nodes));
  if (focusedId) document.getElementById(focusedId)?.focus();
}

async function loadDetail(moveFocus: boolean) {
  const r = route;
  if (r.kind === "list") return;
  const seq = ++detailSeq;
  const key = `${r.kind}:${r.id}`;
  if (detailEl.dataset.key !== key) fill(skeleton(key).head, h("p", { class: "empty" }, "Loading…"));
  try {
    if (r.kind === "approval") {
      const approval = await api<Approval>(`/approvals/${enc(r.id)}`);
      const task = await api<TaskDetail>(`/tasks/${enc(approval.task_id)}`).catch(asApiError);
      if (seq !== detailSeq) return;
      openTaskId = approval.task_id;
      renderApproval(skeleton(key), approval, task);
    } else {
      const task = await api<TaskDetail>(`/tasks/${enc(r.id)}`);
      if (seq !== detailSeq) return;
      openTaskId = task.task_id;
      renderTask(skeleton(key), task);
    }
  } catch (e) {
    if (seq !== detailSeq) return;
    const err = asApiError(e);
    const slots = skeleton(key);
    const title = err.status === 404 ? "Not found" : err.status === 403 ? "Not yours to see" : "Could not load this";
    fill(slots.head, h("h1", { id: "detail-title", tabindex: -1 }, title), h("p", { class: "error" }, err.message, err.traceId && h("code", {}, ` Trace id: ${err.traceId}`)));
    for (const slot of [slots.decide, slots.task, slots.history]) fill(slot);
  }
  if (moveFocus && seq === detailSeq) byId("detail-title")?.focus();
}

function renderApproval(slots: ReturnType<typeof skeleton>, a: Approval, task: TaskDetail | ApiError) {
  const mine = a.requested_by === me.subject;
  fill(
    slots.head,
    h("p", { class: "eyebrow" }, "Approval ", badge(a.status)),
    h("h1", { id: "detail-title", tabindex: -1, dir: "auto", "data-approval-id": a.approval_id }, task instanceof ApiError ? "Approval" : clip(task.description || task.task_type, 120)),
    h(
      "dl",
      { class: "facts" },
      fact("Why", prose(a.reason)),
      fact("Asked by", who(a.requested_by), mine && " (you)"),
      fact("Approver role", a.approver_role),
      fact("Asked", timeEl(a.created_at, true)),
      a.comments && fact(a.status === "pending" ? "Note from the asker" : "Decision comment", prose(a.comments)),
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

/** The form while the person may decide; otherwise the outcome or why they cannot. */
function renderDecision(slot: HTMLElement, a: Approval, task: TaskDetail | ApiError) {
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

function whyCannotDecide(a: Approval, task: TaskDetail | ApiError): string | null {
  if (a.status !== "pending") return `Already ${a.status}; a decision is made once.`;
  if (!me.roles.includes(a.approver_role)) {
    return `Only holders of role ${a.approver_role} may decide this approval. ${me.roles.length ? `You hold ${rolesPhrase(me.roles)}.` : "You hold no roles."}`;
  }
  if (a.requested_by === me.subject) return `You asked for this approval yourself, so another holder of role ${a.approver_role} must decide it.`;
  if (!(task instanceof ApiError) && TERMINAL.includes(task.status)) return `The task is already ${task.status}, so this approval no longer decides anything.`;
  return null;
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
    if (button instanceof HTMLButtonElement && (button.value === "approved" || button.value === "rejected")) void decide(a.approval_id, button.value, form, button);
  });
  return form;
}

function outcomeBox(a: Approval): HTMLElement {
  const byMe = a.decided_by === me.subject;
  const next = pendingList.items.find((x) => x.approval_id !== a.approval_id && x.requested_by !== me.subject);
  return h(
    "div",
    { class: "outcome", id: "outcome", "data-status": a.status, tabindex: -1 },
    h("p", {}, byMe ? `You ${a.status} this` : `${capital(a.status)} by `, !byMe && who(a.decided_by ?? "?"), a.decided_at && ", ", a.decided_at && timeEl(a.decided_at, true), "."),
    next
      ? h("p", {}, "Next waiting: ", h("a", { href: approvalHref(next.approval_id), "data-nav": true, dir: "auto" }, clip(next.reason, 120)))
      : byMe && h("p", {}, "Nothing else is waiting for you."),
  );
}

function renderTask(slots: ReturnType<typeof skeleton>, t: TaskDetail) {
  fill(
    slots.head,
    h("p", { class: "eyebrow" }, "Task ", badge(t.status)),
    h("h1", { id: "detail-title", tabindex: -1, dir: "auto", "data-task-id": t.task_id }, t.task_type),
    t.description && h("p", { class: "prose lead", dir: "auto" }, t.description),
  );
  fill(
    slots.decide,
    h("h2", {}, "Approvals"),
    t.approvals.length ? h("ul", { class: "cards" }, ...t.approvals.map(approvalRow)) : h("p", { class: "hint" }, "No approval has been asked for this task."),
  );
  fill(slots.task, h("h2", {}, "Details"), ...taskFacts(t));
  fill(slots.history, ...historyList(t.history));
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
    empty ? h("p", { class: "hint" }, "(none)") : h("pre", { tabindex: 0, "aria-label": label, "data-json": label.toLowerCase() }, JSON.stringify(value, null, 2)),
  );
}

const ACTION_NAMES: Record<string, string> = {
  "task.created": "Sent",
  "task.claimed": "Claimed",
  "task.completed": "Completed",
  "task.failed": "Failed",
  "task.cancelled": "Cancelled",
  "approval.requested": "Approval asked",
  "approval.approved": "Approved",
  "approval.rejected": "Rejected",
};

function historyList(entries: HistoryEntry[], approvalId?: string): Child[] {
  const items = entries.map((e) => {
    const ours = approvalId !== undefined && e.approval_id === approvalId;
    return h(
      "li",
      { "data-action": e.action, class: ours ? "ours" : null },
      h("strong", {}, ACTION_NAMES[e.action] ?? e.action),
      " by ",
      who(e.actor),
      ours && h("span", { class: "tag" }, "this approval"),
      h("br"),
      timeEl(e.at, true),
    );
  });
  return [h("h2", { id: "h-history" }, "History"), items.length ? h("ol", { class: "history" }, ...items) : h("p", { class: "hint" }, "Nothing has happened yet.")];
}

// ── deciding ─────────────────────────────────────────────────────────────────

let sending = false;
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
    const decided = await api<Approval>(`/approvals/${enc(approvalId)}/decision`, { body: { decision, comments }, key: attempt.key });
    attempt = null;
    say(`${capital(decided.status)}: ${clip(decided.reason, 120)}`, "ok");
  } catch (e) {
    const err = asApiError(e);
    reachable = err.status !== 0;
    if (reachable) attempt = null;
    if (!reachable) say(`${err.message} Your decision may not be recorded; press ${decision === "approved" ? "Approve" : "Reject"} again to retry — it counts once.`, "error");
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

// ── live updates ─────────────────────────────────────────────────────────────

const ACTIONS = Object.keys(ACTION_NAMES);
const liveEl = byId("live");
const dirty = new Set<ListKey>();
let detailDirty = false;
let flushTimer = 0;
let lastSeq: number | null = null;
let retryMs = 2000;

function setLive(state: "live" | "reconnecting") {
  if (liveEl.dataset.state === state) return;
  liveEl.dataset.state = state;
  liveEl.textContent = state === "live" ? "Live" : "Reconnecting…";
}

function connectEvents() {
  // After a stream was given up, `since` resumes where it stopped; the browser's own retries send Last-Event-ID.
  const source = new EventSource(lastSeq === null ? "/events" : `/events?since=${lastSeq}`);
  eventSource = source;
  source.addEventListener("open", () => {
    setLive("live");
    retryMs = 2000;
    // Nothing to resume from: what changed before the stream opened is fetched instead.
    if (lastSeq === null) markAll();
  });
  source.addEventListener("error", () => {
    setLive("reconnecting");
    if (source.readyState !== EventSource.CLOSED || leaving) return;
    // The browser gave up (e.g. a 401 or 429): see whether the session ended, then retry with a backoff.
    void api<Me>("/me").catch(() => {});
    setTimeout(connectEvents, retryMs);
    retryMs = Math.min(retryMs * 2, 60_000);
  });
  for (const action of ACTIONS) source.addEventListener(action, (e) => onChange(e as MessageEvent<string>));
}

function onChange(e: MessageEvent<string>) {
  let change: ChangeEvent;
  try {
    change = JSON.parse(e.data) as ChangeEvent;
  } catch {
    return;
  }
  lastSeq = Number(e.lastEventId) || change.seq;
  if (change.action.startsWith("approval.")) dirty.add("pending").add("decided");
  else dirty.add("sent").add("for");
  if (route.kind !== "list" && (change.task_id === openTaskId || change.approval_id === (route.kind === "approval" ? route.id : null))) detailDirty = true;
  scheduleFlush();
}

function markAll() {
  for (const key of Object.keys(lists) as ListKey[]) dirty.add(key);
  detailDirty = route.kind !== "list";
  scheduleFlush();
}

/** Bursts of events become one refresh, ~150 ms after the first. */
function scheduleFlush() {
  if (!flushTimer) flushTimer = window.setTimeout(flush, 150);
}

function flush() {
  flushTimer = 0;
  for (const key of dirty) void lists[key].refresh();
  dirty.clear();
  // While a decision is on its way, its answer refreshes the detail instead.
  if (detailDirty && !sending) {
    detailDirty = false;
    void loadDetail(false);
  }
}

// ── start ────────────────────────────────────────────────────────────────────

function wireEvents() {
  document.addEventListener("click", (e) => {
    const link = e.target instanceof Element ? e.target.closest<HTMLAnchorElement>("a[data-nav]") : null;
    if (!link || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    if (link.hasAttribute("data-back")) goBack();
    else navigate(link.getAttribute("href") ?? "/");
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || route.kind === "list" || e.defaultPrevented) return;
    if (e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLInputElement) return;
    goBack();
  });
  window.addEventListener("popstate", () => show(routeFromUrl(), true));
  messageEl.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest(".dismiss")) clearMessage();
  });
  const signOutButton = byId<HTMLButtonElement>("sign-out");
  signOutButton.addEventListener("click", () => void signOut(signOutButton));
  setInterval(() => document.querySelectorAll("time").forEach(setTimeText), 30_000);
}

async function start() {
  wireEvents();
  try {
    me = await api<Me>("/me");
  } catch (e) {
    byId("who").textContent = "Could not tell who you are.";
    return sayError(e);
  }
  showMe();
  const first = routeFromUrl();
  // A deep link to an approval puts focus on it; a list leaves focus at the top of the page.
  show(first, first.kind !== "list");
  connectEvents();
  await refreshAllLists();
}

void start();
