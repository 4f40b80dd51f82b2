/**
 * The controller process: opens the store, sets up token checking, and serves the
 * API within a connection budget (lib/http-server.ts). Every response carries the trace id; every request is logged
 * as one JSON line; shutdown finishes what is in flight and closes the database.
 */
import { api, type Endpoint } from "../contract/api.ts";
import type { Logger } from "../lib/log.ts";
import { defaultMaxConnections, namesHost, openFileLimit, serve, type WebServer } from "../lib/http-server.ts";
import { LIMITS } from "../contract/schemas.ts";
import { traceIdOf, traceparentFor } from "../lib/trace.ts";
import { COMMIT, VERSION } from "../lib/version.ts";
import { createAuthenticator, type TrustSource, type Verified } from "./auth.ts";
import type { RequestContext } from "./request-context.ts";
import { loadOrCreateDevKey } from "./dev-keys.ts";
import { asMeshError, compile, json, match, problem, queryOf, readJson, validate, type Route, type Seen } from "./http.ts";
import { Clocks } from "./clocks.ts";
import { createMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { apiRoutes, idempotencyKeyOf } from "./routes.ts";
import { a2aRoutes } from "./a2a/routes.ts";
import { MeshService } from "./service.ts";
import { serviceOptionsOf, type ControllerSettings } from "./settings.ts";
import { describeDatabase, openStore } from "./store/open.ts";
import { webRoutes, type SignInMode } from "./sign-in/routes.ts";
import { Sessions } from "./sign-in/sessions.ts";
import { remoteMcpRoutes } from "./remote-mcp.ts";

export type Controller = { url: URL; stop: () => Promise<void> };

const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/** How long an idle connection of a caller with a valid credential is kept. */
const KEEP_ALIVE_SECONDS = 75;

/** Health checks answer even without a usable Host header: HTTP/1.0 checkers send none. */
const HOSTLESS_PATHS = new Set(["/healthz", "/readyz"]);

export async function startController(settings: ControllerSettings, log: Logger): Promise<Controller> {
  const store = await openStore(settings);
  const trust: TrustSource = settings.oidcIssuer
    ? { kind: "oidc", issuer: settings.oidcIssuer }
    : { kind: "dev", key: await loadOrCreateDevKey(settings.dataDir) };
  const authenticate = createAuthenticator(trust, {
    audience: settings.audience,
    algorithms: settings.algorithms,
    rolesClaim: settings.rolesClaim,
    adminRole: settings.adminRole,
    clockToleranceSeconds: settings.clockTolerance,
  });
  const sessions = new Sessions(store, { ttlSeconds: settings.sessionTtl, adminRole: settings.adminRole });
  const signIn: SignInMode =
    trust.kind === "dev"
      ? { kind: "link", key: trust.key }
      : settings.oidcClientId
        ? {
            kind: "oidc",
            issuer: trust.issuer,
            clientId: settings.oidcClientId,
            clientSecret: settings.oidcClientSecret,
            scopes: settings.oidcScopes,
            authenticate,
          }
        : { kind: "unconfigured", issuer: trust.issuer };
  const pages = webRoutes(signIn, sessions, store, settings.publicUrl);
  const service = new MeshService(store, serviceOptionsOf(settings));
  const openapi = JSON.stringify(openApiDocument(api));
  const metrics = createMetrics({
    openWaits: () => service.stats().openWaits,
    replays: () => service.stats().replays,
    privacyFindings: () => service.stats().privacyFindings,
    tasksByStatus: () => service.tasksByStatus(),
    timers: () => service.stats().timers,
  });
  const shutdown = new AbortController();
  const database = describeDatabase(settings.database, settings.dataDir);

  /** Operations endpoints: no token needed, nothing private in them. */
  const operations: Record<string, () => Promise<Response>> = {
    "/healthz": async () => json({ status: "ok" }),
    "/readyz": async () => {
      try {
        await service.ready();
        return json({ status: "ready", database: store.engine });
      } catch (error) {
        log.warn("not ready", { error: (error as Error).message });
        return json({ status: "not ready", database: store.engine, detail: "The database does not answer; the controller's log says why." }, 503);
      }
    },
    "/status": async () => json({ status: "ok", service: "agent-mesh-controller", version: VERSION, commit: COMMIT, database: store.engine, auth: trust.kind }),
    "/metrics": () => metrics.render(),
    "/openapi.json": async () => new Response(openapi, { headers: { "content-type": "application/json" } }),
    "/.well-known/jwks.json": async () => json({ keys: trust.kind === "dev" ? [trust.key.publicJwk] : [] }),
  };

  /** Every way in, one table: operations (no token), the page and sign-in (a session of their own), the API (a caller). */
  const table: Route[] = [
    ...Object.entries(operations).map(([path, handle]): Route => ({ method: "GET", path, handle })),
    ...pages.map(({ method, path, handle }): Route => ({ method, path, handle: (req, url) => handle(req, url) })),
    ...a2aRoutes({ service, authenticate, settings, shutdown: shutdown.signal, log }),
    ...apiRoutes(service).map(
      ({ endpoint, handle }): Route => ({
        method: endpoint.method,
        path: endpoint.path,
        handle: async (req, url, params, traceId, seen) => {
          const { caller, expiresAt, stillSignedIn } = await identify(req, endpoint);
          seen.identified(caller.subject);
          const ctx = {
            caller,
            expiresAt,
            stillSignedIn,
            traceId,
            idempotencyKey: idempotencyKeyOf(req.headers, endpoint.idempotency),
            signal: AbortSignal.any([req.signal, shutdown.signal]),
          };
          const query = endpoint.query ? validate(endpoint.query, queryOf(url), "query") : undefined;
          const body = endpoint.body ? validate(endpoint.body, await readJson(req), "body") : undefined;
          // The contract typed each handler; here every endpoint is handled alike, so the validated input is passed as it is.
          const result = await handle({ ctx, params: params as never, body: body as never, query: query as never, headers: req.headers });
          return result instanceof Response ? result : json(result, endpoint.status);
        },
      }),
    ),
    ...remoteMcpRoutes({ service, authenticate, settings, shutdown: shutdown.signal, log }),
  ];
  const matchers = compile(table);

  async function dispatch(req: Request, url: URL, traceId: string, seen: Seen): Promise<Response> {
    const found = match(matchers, req.method, url.pathname);
    if (!found.route) {
      if (!found.allowed.length) return problem("no_route", `There is no ${req.method} ${url.pathname}; see /openapi.json for the API.`, traceId);
      const response = problem("method_not_allowed", `${url.pathname} takes ${found.allowed.join(", ")}.`, traceId);
      response.headers.set("allow", found.allowed.join(", "));
      return response;
    }
    seen.route = found.route.path;
    return found.route.handle(req, url, found.params, traceId, seen);
  }

  /** A bearer token (agents, scripts) or else a browser session (people, on the page). */
  async function identify(req: Request, endpoint: Endpoint): Promise<Verified & Pick<RequestContext, "stillSignedIn">> {
    const authorization = req.headers.get("authorization");
    const person = authorization === null ? await sessions.verify(req, endpoint.method !== "GET") : null;
    if (person) return { ...person, stillSignedIn: async () => (await sessions.find(req)) !== null };
    return authenticate(authorization);
  }

  function failure(error: unknown, traceId: string): Response {
    const known = asMeshError(error, log, traceId);
    return problem(known.kind, known.message, traceId, known.fields);
  }

  const fileLimit = openFileLimit();
  if (fileLimit && settings.maxConnections > defaultMaxConnections(fileLimit)) {
    log.warn("MESH_MAX_CONNECTIONS leaves too few open files for the database and logs; lower it or raise ulimit -n", {
      max_connections: settings.maxConnections,
      open_file_limit: fileLimit,
    });
  }
  let server: WebServer;
  try {
    server = await serve({
      port: settings.port,
      hostname: settings.host,
      maxConnections: settings.maxConnections,
      anonymousIdleSeconds: settings.anonymousIdle,
      idleSeconds: KEEP_ALIVE_SECONDS,
      // Long-polls are silent for up to LIMITS.waitSeconds.
      stallSeconds: LIMITS.waitSeconds + 30,
      maxBodyBytes: LIMITS.bodyBytes * 4,
      onError: (error) => void failure(error, "unknown"),
      async fetch(req, connection) {
        const started = performance.now();
        const traceId = traceIdOf(req.headers);
        const url = new URL(req.url);
        const seen: Seen = {
          route: "unmatched",
          identified(subject) {
            seen.subject = subject;
            connection.trusted = true;
          },
        };
        let response: Response;
        try {
          response =
            namesHost(url) || HOSTLESS_PATHS.has(url.pathname)
              ? await dispatch(req, url, traceId, seen)
              : problem(
                  "bad_request",
                  "The Host header is missing or is not a host name; send the address you reached the controller at (Host: HOST:PORT).",
                  traceId,
                );
        } catch (error) {
          response = failure(error, traceId);
        }
        const seconds = (performance.now() - started) / 1000;
        metrics.observe(req.method, seen.route, response.status, seconds);
        response.headers.set("x-trace-id", traceId);
        const traceparent = traceparentFor(traceId);
        if (traceparent) response.headers.set("traceparent", traceparent);
        log.info("request", {
          method: req.method,
          path: url.pathname,
          status: response.status,
          ms: Math.round(seconds * 10_000) / 10,
          trace_id: traceId,
          ...(seen.subject && { sub: seen.subject }),
        });
        return response;
      },
    });
  } catch (error) {
    await store.close();
    throw error;
  }

  const clocks = new Clocks({ nextDueAt: () => service.nextDueAt(), actOnDue: () => service.actOnDue(), onChange: (l) => store.onChange(l) }, log);
  clocks.start();

  const purge = () => service.purgeExpired().catch((error) => log.warn("could not purge expired keys and sessions", { error: String(error) }));
  void purge();
  const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS);
  purgeTimer.unref();
  const retention = settings.retention;
  const retentionTimer =
    retention === undefined
      ? undefined
      : setInterval(
          () =>
            void service
              .removeOldPayloads(retention)
              .then((tasks) => tasks && log.info("retention removed payloads", { tasks }))
              .catch((error) => log.warn("could not remove payloads past MESH_RETENTION", { error: String(error) })),
          Math.min(PURGE_INTERVAL_MS, retention * 250),
        );
  retentionTimer?.unref();

  log.info("controller started", { url: server.url.href, database, auth: trust.kind, version: VERSION });
  return {
    url: server.url,
    async stop() {
      clearInterval(purgeTimer);
      clearInterval(retentionTimer);
      shutdown.abort();
      await clocks.stop();
      await server.stop();
      await store.close();
      log.info("controller stopped");
    },
  };
}
