/** The controller's settings: one table gives parsing, validation and --help. */
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { LIMITS } from "../contract/schemas.ts";
import { defaultMaxConnections } from "../lib/http-server.ts";
import { durationBetween, httpUrl, list, logLevelSetting, port, positiveInt, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";
import type { ServiceOptions } from "./service.ts";

/** Asymmetric algorithms only: an HMAC secret shared with every verifier is no identity. */
const ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] as const;
const algorithms = list.pipe(z.array(z.enum(ALGORITHMS, { error: `each must be one of ${ALGORITHMS.join(", ")}` })).min(1, "name at least one"));

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
  database: { flag: "db", env: "MESH_DATABASE_URL", schema: databaseUrl, help: "sqlite:PATH or postgres://… (default: SQLite in the data folder)" },
  oidcIssuer: { env: "MESH_OIDC_ISSUER", schema: httpUrl.optional(), help: "OIDC issuer URL (e.g. a Keycloak realm); without it the dev key signs tokens" },
  oidcClientId: {
    env: "MESH_OIDC_CLIENT_ID",
    schema: z.string().min(1).optional(),
    help: "Client id at the OIDC issuer for people signing in to the web page",
  },
  oidcClientSecret: {
    env: "MESH_OIDC_CLIENT_SECRET",
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
  poolSize: { env: "MESH_PG_POOL_SIZE", schema: positiveInt(200), fallback: "10", help: "PostgreSQL connections per controller" },
  logLevel: logLevelSetting("info"),
} satisfies SettingsSpec;

export type ControllerSettings = SettingsOf<typeof controllerSettings>;

/** What the mesh service takes from the controller's settings. */
export const serviceOptionsOf = (settings: ControllerSettings): ServiceOptions => ({
  idempotencyTtlSeconds: settings.idempotencyTtl,
  idempotencyKeysPerCaller: settings.idempotencyKeys,
  idempotencyRetryWindowSeconds: settings.idempotencyRetryWindow,
  maxWaitsPerCaller: settings.maxWaits,
  maxOpenApprovalsPerTask: settings.maxOpenApprovals,
  leaseSeconds: settings.leaseSeconds,
});
