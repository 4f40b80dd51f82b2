/** The controller's settings: one table gives parsing, validation and --help. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { LIMITS } from "../contract/schemas.ts";
import { defaultMaxConnections } from "../lib/http-server.ts";
import { durationBetween, httpUrl, list, logLevelSetting, port, positiveInt, type SettingsOf, type SettingsSpec, SettingsError } from "../lib/settings.ts";
import { PrivacyGuard } from "./privacy/guard.ts";
import { Role } from "../contract/schemas.ts";
import type { ServiceOptions } from "./service.ts";
import { mcpSessionSettings } from "../mcp/settings.ts";

/** Asymmetric algorithms only: an HMAC secret shared with every verifier is no identity. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;
const algorithms = list.pipe(z.array(z.enum(ALGORITHMS, { error: `each must be one of ${ALGORITHMS.join(", ")}` })).min(1, "name at least one"));

/** The operator's own kinds for the privacy guard: `{"KIND": "regular expression"}`. */
const privacyPatterns = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return {};
    try {
      const parsed = z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()).parse(JSON.parse(text));
      for (const pattern of Object.values(parsed)) new RegExp(pattern, "u");
      return parsed;
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `must be a JSON object of KIND names (A-Z, 0-9, _) and regular expressions (${(error as Error).message.split("\n")[0]})`,
      });
      return z.NEVER;
    }
  });

const optionalList = list.optional().transform((items) => items ?? []);

export const defaultDataDir = () =>
  resolve(process.env.XDG_DATA_HOME ? join(process.env.XDG_DATA_HOME, "agent-mesh") : join(homedir(), ".local/share/agent-mesh"));

const databaseUrl = z
  .string()
  .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, "must be sqlite:PATH or postgres://USER@HOST:PORT/DB")
  .optional();

/** Settings every command that touches the data folder or tokens shares. */
export const identitySettings = {
  dataDir: {
    flag: "data-dir",
    env: "MESH_DATA_DIR",
    schema: z
      .string()
      .min(1)
      .transform((p) => resolve(p)),
    fallback: defaultDataDir,
    fallbackDoc: "$XDG_DATA_HOME/agent-mesh or ~/.local/share/agent-mesh",
    help: "Folder for the SQLite database and the dev signing key",
  },
  audience: { env: "MESH_JWT_AUDIENCE", schema: z.string().min(1), fallback: "agent-mesh", help: "The `aud` a token must carry" },
  rolesClaim: {
    env: "MESH_ROLES_CLAIM",
    schema: z.string().regex(/^[\w-]+(\.[\w-]+)*$/, "must be a claim name or dotted path"),
    fallback: "realm_access.roles",
    help: "Claim (dotted path) holding the caller's roles",
  },
} satisfies SettingsSpec;

export const controllerSettings = {
  port: { flag: "port", env: "MESH_PORT", schema: port, fallback: "8088", help: "Port to listen on (0 picks a free one)" },
  host: { flag: "host", env: "MESH_HOST", schema: z.string().min(1), fallback: "127.0.0.1", help: "Address to listen on" },
  ...identitySettings,
  database: {
    flag: "db",
    env: "MESH_DATABASE_URL",
    schema: databaseUrl,
    help: "sqlite:PATH or postgres://… (default: SQLite in the data folder)",
    secret: true,
  },
  oidcIssuer: { env: "MESH_OIDC_ISSUER", schema: httpUrl.optional(), help: "OIDC issuer URL (e.g. a Keycloak realm); without it the dev key signs tokens" },
  oidcClientId: {
    env: "MESH_OIDC_CLIENT_ID",
    schema: z.string().min(1).optional(),
    help: "Client id at the OIDC issuer for people signing in to the web page",
  },
  oidcClientSecret: {
    env: "MESH_OIDC_CLIENT_SECRET",
    secret: true,
    schema: z.string().min(1).optional(),
    help: "That client's secret (leave out for a public client; PKCE is used either way)",
  },
  oidcScopes: { env: "MESH_OIDC_SCOPES", schema: z.string().min(1), fallback: "openid", help: "Scopes the web sign-in asks for" },
  publicUrl: {
    env: "MESH_PUBLIC_URL",
    schema: httpUrl.optional(),
    help: "The controller's address as browsers reach it, for sign-in redirects (default: each request's own)",
  },
  sessionTtl: {
    env: "MESH_SESSION_TTL",
    schema: durationBetween(60, 30 * 86400, "a web session"),
    fallback: "8h",
    help: "How long a person stays signed in to the web page",
  },
  algorithms: { env: "MESH_JWT_ALGORITHMS", schema: algorithms, fallback: "RS256,PS256,ES256,EdDSA", help: "Signing algorithms accepted from the OIDC issuer" },
  adminRole: { env: "MESH_ADMIN_ROLE", schema: z.string().min(1), fallback: "admin", help: "Role that may read everything and the audit trail" },
  clockTolerance: { env: "MESH_CLOCK_TOLERANCE", schema: durationBetween(0, 300, "the leeway"), fallback: "30s", help: "Leeway for token exp/nbf" },
  idempotencyTtl: {
    env: "MESH_IDEMPOTENCY_TTL",
    schema: durationBetween(1, 30 * 86400, "a key's lifetime"),
    fallback: "24h",
    help: "How long an Idempotency-Key is remembered",
  },
  idempotencyKeys: {
    env: "MESH_IDEMPOTENCY_KEYS_PER_CALLER",
    schema: positiveInt(10_000_000),
    fallback: "100000",
    help: "Idempotency-Keys remembered per caller; past it the oldest are forgotten once older than MESH_IDEMPOTENCY_RETRY_WINDOW, else 429",
  },
  idempotencyRetryWindow: {
    env: "MESH_IDEMPOTENCY_RETRY_WINDOW",
    schema: durationBetween(1, 24 * 3600, "the retry window"),
    fallback: "10m",
    help: "How long an Idempotency-Key is surely remembered, budget or not: longer than any client retries",
  },
  maxWaits: { env: "MESH_MAX_WAITS_PER_CALLER", schema: positiveInt(1000), fallback: "16", help: "Long-polls one caller may hold open" },
  maxOpenApprovals: {
    env: "MESH_MAX_OPEN_APPROVALS_PER_TASK",
    schema: positiveInt(1000),
    fallback: "10",
    help: "Approvals one task may have waiting for a decision at once",
  },
  leaseSeconds: {
    env: "MESH_LEASE_SECONDS",
    schema: durationBetween(LIMITS.leaseSeconds.min, LIMITS.leaseSeconds.max, "a lease"),
    fallback: "300",
    help: "How long a claim lasts without a heartbeat when the claimant does not say; then the task goes back to pending",
  },
  maxConnections: {
    env: "MESH_MAX_CONNECTIONS",
    schema: positiveInt(1_000_000),
    fallback: () => String(defaultMaxConnections()),
    fallbackDoc: "the open-file limit less a tenth of it (at least 256)",
    help: "Connections held at once; past it the longest-idle one is closed, or a new one gets 503 if all are in a request",
  },
  anonymousIdle: {
    env: "MESH_ANONYMOUS_IDLE",
    schema: durationBetween(1, 300, "the idle time"),
    fallback: "10s",
    help: "How long an idle connection that has shown no valid token or session is kept",
  },
  mcpMaxSessions: mcpSessionSettings.maxSessions,
  mcpAllowedHosts: {
    ...mcpSessionSettings.allowedHosts,
    help: `${mcpSessionSettings.allowedHosts.help}, besides loopback names, --host and MESH_PUBLIC_URL's host`,
  },
  privacyMode: {
    env: "MESH_PRIVACY_MODE",
    schema: z.enum(["mask", "reject", "off"], { error: "must be mask, reject or off" }),
    fallback: "mask",
    help: "What the privacy guard does with secrets and personal data in what is stored: mask them ([EMAIL]), reject the request (422), or off",
  },
  privacyKindsOff: {
    env: "MESH_PRIVACY_KINDS_OFF",
    schema: optionalList,
    help: "Kinds the privacy guard does not look for, e.g. PHONE,US_SSN (SECRETS: every secretlint rule)",
  },
  privacyPatterns: {
    env: "MESH_PRIVACY_PATTERNS",
    schema: privacyPatterns,
    help: 'More kinds for the privacy guard, as JSON: {"EMPLOYEE_ID":"\\\\bE\\\\d{6}\\\\b"}',
  },
  privacyExempt: {
    env: "MESH_PRIVACY_EXEMPT",
    schema: optionalList,
    help: "Field paths the privacy guard leaves as sent, with all under them, e.g. task.data.commit,context.repo",
  },
  retention: {
    env: "MESH_RETENTION",
    schema: durationBetween(1, 100 * 365 * 86400, "the retention period").optional(),
    help: "How long finished tasks keep their payloads (data, context, result, texts); ids, states, times and the audit stay (default: forever)",
  },
  a2aRoles: {
    env: "MESH_A2A_ROLES",
    schema: list.pipe(z.array(Role)),
    fallback: "",
    help: "Roles the controller's own A2A card (/.well-known/agent-card.json) lists; every role is an A2A agent at /a2a/ROLE either way",
  },
  a2aPushAllow: {
    env: "MESH_A2A_PUSH_ALLOW",
    schema: list.pipe(z.array(httpUrl)),
    fallback: "",
    help: "Comma-separated URL prefixes A2A push notifications may go to (none: push is off); any other address is refused",
  },
  poolSize: { env: "MESH_PG_POOL_SIZE", schema: positiveInt(200), fallback: "10", help: "PostgreSQL connections per controller" },
  logLevel: logLevelSetting("info"),
} satisfies SettingsSpec;

export type ControllerSettings = SettingsOf<typeof controllerSettings>;

/** What the mesh service takes from the controller's settings, once they agree with each other. */
export function serviceOptionsOf(settings: ControllerSettings): ServiceOptions {
  if (settings.idempotencyTtl < settings.idempotencyRetryWindow) {
    throw new SettingsError(
      `MESH_IDEMPOTENCY_TTL (${settings.idempotencyTtl} s) is shorter than MESH_IDEMPOTENCY_RETRY_WINDOW (${settings.idempotencyRetryWindow} s): a key must be kept at least as long as a retry may come; raise the first or lower the second`,
    );
  }
  return {
    idempotencyTtlSeconds: settings.idempotencyTtl,
    idempotencyKeysPerCaller: settings.idempotencyKeys,
    idempotencyRetryWindowSeconds: settings.idempotencyRetryWindow,
    maxWaitsPerCaller: settings.maxWaits,
    maxOpenApprovalsPerTask: settings.maxOpenApprovals,
    leaseSeconds: settings.leaseSeconds,
    privacy: new PrivacyGuard({
      mode: settings.privacyMode,
      kindsOff: settings.privacyKindsOff,
      patterns: settings.privacyPatterns,
      exempt: settings.privacyExempt,
    }),
  };
}
