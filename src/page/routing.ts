/** Routes: the list views, one approval, one task; all on `/` with the query naming which. */
import { closeDetail, loadDetail } from "./detail.ts";
import { byId } from "./dom.ts";

export type View = "pending" | "decided" | "tasks";
export type Route = { kind: "list"; view: View } | { kind: "approval"; id: string } | { kind: "task"; id: string };
type NavState = { fromList?: boolean } | null;

const VIEW_TITLES: Record<View, string> = { pending: "Waiting for you", decided: "Your decisions", tasks: "Tasks" };
export let route: Route = { kind: "list", view: "pending" };
export let lastListView: View = "pending";
export const listHref = (view: View) => (view === "pending" ? "/" : `/?view=${view}`);

export function routeFromUrl(): Route {
  const q = new URLSearchParams(location.search);
  const approval = q.get("approval");
  if (approval) return { kind: "approval", id: approval };
  const task = q.get("task");
  if (task) return { kind: "task", id: task };
  const view = q.get("view");
  return { kind: "list", view: view === "decided" || view === "tasks" ? view : "pending" };
}

export function navigate(href: string) {
  history.pushState({ fromList: route.kind === "list" } satisfies NavState, "", href);
  show(routeFromUrl(), true);
}

/** Back to the list: the browser's Back when we came from it (so history stays tidy). */
export function goBack() {
  if ((history.state as NavState)?.fromList) history.back();
  else navigate(listHref(lastListView));
}

export function setTitle() {
  const count = byId("pending-count").textContent;
  const name = route.kind === "list" ? VIEW_TITLES[route.view] : route.kind === "approval" ? "Approval" : "Task";
  document.title = `${count ? `(${count}) ` : ""}${name} · Agent Mesh`;
}

export function show(next: Route, moveFocus: boolean) {
  const left = route;
  route = next;
  for (const view of ["pending", "decided", "tasks"] as const) byId(`view-${view}`).hidden = !(next.kind === "list" && next.view === view);
  byId("view-detail").hidden = next.kind === "list";
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
