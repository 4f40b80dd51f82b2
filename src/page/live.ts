/** Live updates: the controller's event stream marks what changed; bursts become one refresh. */
import { ENDPOINTS } from "../contract/paths.ts";
import { EVENT_ACTIONS } from "../contract/event-actions.ts";
import type { ChangeEvent, Me } from "../contract/schemas.ts";
import { api, leaving } from "./api.ts";
import { sending } from "./deciding.ts";
import { loadDetail, openTaskId } from "./detail.ts";
import { byId } from "./dom.ts";
import { type ListKey, lists } from "./lists.ts";
import { route } from "./routing.ts";

const liveEl = byId("live");
const dirty = new Set<ListKey>();
let detailDirty = false;
let flushTimer = 0;
let lastSeq: number | null = null;
let retryMs = 2000;
let eventSource: EventSource | null = null;

function setLive(state: "live" | "reconnecting") {
  if (liveEl.dataset.state === state) return;
  liveEl.dataset.state = state;
  liveEl.textContent = state === "live" ? "Live" : "Reconnecting…";
}

export function connectEvents() {
  // After a stream was given up, `since` resumes where it stopped; the browser's own retries send Last-Event-ID.
  const source = new EventSource(lastSeq === null ? ENDPOINTS.events.path : `${ENDPOINTS.events.path}?since=${lastSeq}`);
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
    void api<Me>(ENDPOINTS.whoami.path).catch(() => {});
    setTimeout(connectEvents, retryMs);
    retryMs = Math.min(retryMs * 2, 60_000);
  });
  for (const action of EVENT_ACTIONS) source.addEventListener(action, (e) => onChange(e as MessageEvent<string>));
}

/** Signing out: the stream is closed before the page leaves. */
export const stopEvents = () => eventSource?.close();

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
  if (
    route.kind !== "list" &&
    (change.task_id === openTaskId || change.parent_task_id === openTaskId || change.approval_id === (route.kind === "approval" ? route.id : null))
  )
    detailDirty = true;
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
