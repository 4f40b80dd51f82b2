/** Who is signed in: asked of the controller once, shown in the header. */
import { ENDPOINTS } from "../contract/paths.ts";
import type { Me } from "../contract/schemas.ts";
import { api } from "./api.ts";
import { byId, h, rolesPhrase, who } from "./dom.ts";
import { sayError } from "./messages.ts";

export let me: Me = { subject: "", roles: [], is_admin: false };

/** Asks who is signed in and shows it; false (and says why) when the controller could not tell. */
export async function loadMe(): Promise<boolean> {
  try {
    me = await api<Me>(ENDPOINTS.whoami.path);
  } catch (e) {
    byId("who").textContent = "Could not tell who you are.";
    sayError(e);
    return false;
  }
  showMe();
  return true;
}

function showMe() {
  const roles = [...me.roles, ...(me.is_admin ? ["admin"] : [])].flatMap((r) => [" ", h("span", { class: "role" }, r)]);
  const label = roles.length ? h("span", { class: "visually-hidden" }, ", roles:") : " (no roles)";
  byId("who").replaceChildren("Signed in as ", who(me.subject), label, ...roles);
  byId("who").dataset.subject = me.subject;
  byId("pending-hint").textContent = me.roles.length
    ? `Approvals asked of your ${rolesPhrase(me.roles)}, newest first.`
    : "You hold no roles, so no approvals can be asked of you.";
}
