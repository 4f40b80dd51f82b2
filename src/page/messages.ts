/** The page's status region: what just happened, or what went wrong. */
import { asApiError } from "./api.ts";
import { byId, h } from "./dom.ts";

const messageEl = byId("message");
let messageTimer = 0;

/** Shows a message in the status region; errors stay until dismissed or replaced. */
export function say(text: string, kind: "info" | "ok" | "error" = "info", traceId: string | null = null) {
  clearTimeout(messageTimer);
  messageEl.dataset.kind = kind;
  messageEl.replaceChildren(
    h("p", {}, text, traceId && h("span", { class: "trace" }, " Trace id: ", h("code", {}, traceId))),
    h("button", { type: "button", class: "dismiss quiet", "aria-label": "Dismiss message" }, "×"),
  );
  if (kind !== "error") messageTimer = window.setTimeout(clearMessage, 10_000);
}

export function sayError(e: unknown, prefix = "") {
  const err = asApiError(e);
  say(prefix + err.message, "error", err.traceId);
}

function clearMessage() {
  messageEl.replaceChildren();
  delete messageEl.dataset.kind;
}

/** The message's × button clears it. */
export function wireMessages() {
  messageEl.addEventListener("click", (e) => {
    if (e.target instanceof Element && e.target.closest(".dismiss")) clearMessage();
  });
}
