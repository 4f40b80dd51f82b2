/** Times in the reader's locale: relative in lists ("2 minutes ago"), absolute too in full. */
import { h } from "./dom.ts";

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
export function timeEl(iso: string, full = false): HTMLTimeElement {
  const el = h("time", { datetime: iso, "data-full": full });
  setTimeText(el);
  return el;
}

/** (Re)writes a <time>'s text; run every half minute so "2 minutes ago" stays true. */
export function setTimeText(el: HTMLTimeElement) {
  const ms = Date.parse(el.dateTime);
  if (Number.isNaN(ms)) return void (el.textContent = el.dateTime);
  el.title = absolute.format(ms);
  el.textContent = el.hasAttribute("data-full") ? `${el.title} (${relative(ms)})` : relative(ms);
}
