/**
 * Building the page's DOM. Everything the API returns was written by agents and is
 * hostile input: it reaches the DOM only as text (textContent, attribute values we
 * build), never as markup.
 */

export type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** Bidi controls (U+202A–E, U+2066–9) could make an agent's text read differently than it is: show them as code points. */
const BIDI_CONTROLS = /[\u202a-\u202e\u2066-\u2069]/g;
const visible = (text: string) => text.replace(BIDI_CONTROLS, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase()}>`);

/** The children to append; text is passed through `visible`. */
export const present = (children: Child[]) =>
  children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false).map((c) => (typeof c === "string" ? visible(c) : c));

/** Builds an element; strings become text nodes, so nothing here can inject markup. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...present(children));
  return el;
}

/** Replaces an element's content; focus on an element with an id is put back. */
export function fill(slot: HTMLElement, ...nodes: Child[]) {
  const active = document.activeElement;
  const focusedId = active && slot.contains(active) ? active.id : "";
  slot.replaceChildren(...present(nodes));
  if (focusedId) document.getElementById(focusedId)?.focus();
}

export const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
export const enc = encodeURIComponent;
export const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
export const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
/** Someone's name; `dir=auto` keeps right-to-left tricks in it from reordering the text around it. */
export const who = (subject: string) => h("strong", { dir: "auto" }, subject);
export const prose = (text: string) => h("span", { class: "prose", dir: "auto" }, text);
/** A status or priority as a badge; `dead_lettered` reads "Dead lettered". */
export const badge = (value: string, kind = "status") => h("span", { class: "badge", [`data-${kind}`]: value }, capital(value.replaceAll("_", " ")));
export const fact = (term: string, ...desc: Child[]) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, ...desc));
const listFormat = new Intl.ListFormat("en", { type: "conjunction" });
export const rolesPhrase = (roles: string[]) => `${roles.length === 1 ? "role" : "roles"} ${listFormat.format(roles)}`;
