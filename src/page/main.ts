/**
 * The approvals page, bundled into one script with Bun.build (src/controller/sign-in/page.ts).
 * Modules here import only types from the schemas, never zod: the bundle refuses packages.
 */
import { csrfToken, leave, problemOf } from "./api.ts";
import { byId } from "./dom.ts";
import { refreshAllLists } from "./lists.ts";
import { connectEvents, stopEvents } from "./live.ts";
import { say, sayError, wireMessages } from "./messages.ts";
import { goBack, navigate, route, routeFromUrl, show } from "./routing.ts";
import { loadMe } from "./session.ts";
import { setTimeText } from "./times.ts";

async function signOut(button: HTMLButtonElement) {
  button.disabled = true;
  try {
    const res = await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": csrfToken }, credentials: "same-origin" });
    if (res.ok || res.status === 401) {
      stopEvents();
      // Not /login: with an identity provider that would sign them straight back in.
      return leave("/signed-out");
    }
    sayError(await problemOf(res));
  } catch {
    say("Could not reach the controller to sign out. Try again.", "error");
  }
  button.disabled = false;
}

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
  wireMessages();
  const signOutButton = byId<HTMLButtonElement>("sign-out");
  signOutButton.addEventListener("click", () => void signOut(signOutButton));
  setInterval(() => document.querySelectorAll("time").forEach(setTimeText), 30_000);
}

async function start() {
  wireEvents();
  if (!(await loadMe())) return;
  const first = routeFromUrl();
  // A deep link to an approval puts focus on it; a list leaves focus at the top of the page.
  show(first, first.kind !== "list");
  connectEvents();
  await refreshAllLists();
}

void start();
