/**
 * `agent-mesh token` and `agent-mesh login`: credentials signed with the controller's
 * dev key, for a controller without an identity provider. They read the key where the
 * controller keeps it (its data folder), so people run them on the controller's host.
 */
import { z } from "zod";
import { Role } from "../contract/schemas.ts";
import { loadOrCreateDevKey, mintDevToken } from "../controller/dev-keys.ts";
import { identitySettings } from "../controller/settings.ts";
import { mintSignInTicket, signInLink } from "../controller/sign-in/sign-in-link.ts";
import { durationBetween, httpUrl, loadSettings, settingsHelp, type SettingsSpec } from "../lib/settings.ts";

export const loginSettings = {
  dataDir: identitySettings.dataDir,
  subject: {
    flag: "sub",
    env: "MESH_LOGIN_SUB",
    schema: z.string({ error: "is required: who signs in" }).min(1),
    help: "Who the link signs in (becomes the session's subject)",
  },
  roles: { flag: "role", schema: z.array(Role).default([]), help: "A role to grant; repeat for more", multiple: true },
  url: {
    flag: "url",
    env: "MESH_PUBLIC_URL",
    schema: httpUrl,
    fallback: "http://127.0.0.1:8088",
    help: "The controller's address as the person's browser reaches it",
  },
  ttl: { flag: "ttl", schema: durationBetween(60, 86400, "a sign-in link"), fallback: "15m", help: "How long the link may be used (once)" },
} satisfies SettingsSpec;

export const tokenSettings = {
  ...identitySettings,
  subject: {
    flag: "sub",
    env: "MESH_TOKEN_SUB",
    schema: z.string({ error: "is required: who the token is for" }).min(1),
    help: "Who the token is for (becomes `sub`)",
  },
  roles: { flag: "role", schema: z.array(Role).default([]), help: "A role to grant; repeat for more", multiple: true },
  ttl: { flag: "ttl", schema: durationBetween(1, 366 * 86400, "a token's lifetime"), fallback: "1h", help: "How long the token is valid" },
} satisfies SettingsSpec;

export async function runToken(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: agent-mesh token --sub NAME [--role ROLE]… [--ttl 1h] [--data-dir DIR]

Prints a JWT signed with the controller's dev key (made on first use in the data folder),
for local use and tests. A controller configured with MESH_OIDC_ISSUER does not accept it.

Options:
${settingsHelp(tokenSettings)}`);
    return;
  }
  const s = loadSettings(tokenSettings, argv);
  const key = await loadOrCreateDevKey(s.dataDir);
  console.log(await mintDevToken(key, { subject: s.subject, roles: s.roles, ttlSeconds: s.ttl, audience: s.audience, rolesClaim: s.rolesClaim }));
}

export async function runLogin(argv: string[]) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(`Usage: agent-mesh login --sub NAME [--role ROLE]… [--url URL] [--ttl 15m] [--data-dir DIR]

Prints a one-time link that signs a person in to the controller's web page, where
they follow tasks and decide approvals. Signed with the controller's dev key, so run
it where the controller keeps its data. A controller configured with MESH_OIDC_ISSUER
signs people in through that issuer instead (open its page and sign in there).

Options:
${settingsHelp(loginSettings)}`);
    return;
  }
  const s = loadSettings(loginSettings, argv);
  const key = await loadOrCreateDevKey(s.dataDir);
  const ticket = await mintSignInTicket(key, { subject: s.subject, roles: s.roles, ttlSeconds: s.ttl });
  console.log(signInLink(s.url, ticket));
  process.stderr.write(`Open it in a browser within ${Math.round(s.ttl / 60)} min; it signs in ${s.subject} once.\n`);
}
