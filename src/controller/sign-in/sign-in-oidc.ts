/**
 * Signing in through an OIDC issuer (Keycloak or any): the authorization-code flow
 * with PKCE, by oauth4webapi. The access token that comes back is checked exactly as
 * the API checks a bearer token, so a person gets on the page what their token would
 * get from the API, no more.
 */
import * as oauth from "oauth4webapi";
import { MeshError } from "../../contract/errors.ts";
import type { Authenticator } from "../auth.ts";
import { html, messagePage } from "./html.ts";
import { safeNext, seeOther } from "./redirects.ts";
import { cookie, cookieValue, type Sessions } from "./sessions.ts";

export type OidcSignInOptions = {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string;
  /** The controller's address as browsers reach it; default: the address each request came to. */
  publicUrl?: string;
  authenticate: Authenticator;
  sessions: Sessions;
};

/** What the browser keeps between leaving for the issuer and coming back (ten minutes at most). */
const FLOW_COOKIE = "__Host-mesh-sign-in";
const FLOW_SECONDS = 600;
type Flow = { state: string; verifier: string; nonce: string; next: string };

function readFlow(req: Request): Flow | null {
  try {
    const flow = JSON.parse(Buffer.from(cookieValue(req, FLOW_COOKIE) ?? "", "base64url").toString());
    if (!["state", "verifier", "nonce", "next"].every((k) => typeof flow?.[k] === "string")) return null;
    // The cookie comes back from the browser: where it leads is checked again, not trusted.
    return { ...flow, next: safeNext(flow.next) };
  } catch {
    return null;
  }
}

export function oidcSignIn(o: OidcSignInOptions) {
  const issuer = new URL(o.issuer);
  const client: oauth.Client = { client_id: o.clientId };
  const clientAuth = o.clientSecret ? oauth.ClientSecretBasic(o.clientSecret) : oauth.None();
  // An http:// issuer is the operator's own choice (a lab Keycloak); the API already trusts it.
  const requestOptions = { [oauth.allowInsecureRequests]: issuer.protocol === "http:", signal: () => AbortSignal.timeout(10_000) };
  let discovered: Promise<oauth.AuthorizationServer> | null = null;

  const authorizationServer = () =>
    (discovered ??= oauth
      .discoveryRequest(issuer, { ...requestOptions, algorithm: "oidc" })
      .then((response) => oauth.processDiscoveryResponse(issuer, response))
      .catch((error) => {
        discovered = null;
        throw error;
      }));

  const redirectUri = (url: URL) => new URL("/login/callback", o.publicUrl ?? url.origin).href;

  const failed = (why: string, status = 400) =>
    messagePage("Sign-in did not finish", html`<p>${why}</p><p><a href="/login">Sign in again</a></p>`, status, { "set-cookie": cookie(FLOW_COOKIE, "", 0) });

  return {
    /** Sends the browser to the issuer, remembering (in a cookie) what proves the answer is for this browser. */
    async start(_req: Request, url: URL): Promise<Response> {
      let as: oauth.AuthorizationServer;
      try {
        as = await authorizationServer();
      } catch (error) {
        return failed(`The identity provider ${o.issuer} could not be reached (${(error as Error).message}); try again shortly.`, 503);
      }
      const flow: Flow = {
        state: oauth.generateRandomState(),
        verifier: oauth.generateRandomCodeVerifier(),
        nonce: oauth.generateRandomNonce(),
        next: safeNext(url.searchParams.get("next")),
      };
      const target = new URL(as.authorization_endpoint!);
      target.search = new URLSearchParams({
        client_id: o.clientId,
        redirect_uri: redirectUri(url),
        response_type: "code",
        scope: o.scopes,
        state: flow.state,
        nonce: flow.nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(flow.verifier),
        code_challenge_method: "S256",
      }).toString();
      return seeOther(target.href, [cookie(FLOW_COOKIE, Buffer.from(JSON.stringify(flow)).toString("base64url"), FLOW_SECONDS)]);
    },

    /** The issuer sends the browser back here with a code; it becomes tokens, and the access token a session. */
    async callback(req: Request, url: URL): Promise<Response> {
      const flow = readFlow(req);
      if (!flow) return failed("This sign-in was not started here, or took longer than ten minutes.");
      try {
        const as = await authorizationServer();
        const params = oauth.validateAuthResponse(as, client, url, flow.state);
        const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri(url), flow.verifier, requestOptions);
        const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: flow.nonce, requireIdToken: true });
        const { caller } = await o.authenticate(`Bearer ${tokens.access_token}`);
        const session = await o.sessions.start({ subject: caller.subject, roles: caller.roles }, req);
        return seeOther(flow.next, [session, cookie(FLOW_COOKIE, "", 0)]);
      } catch (error) {
        return failed(explainFailure(error, o.issuer), unreachable(error) ? 503 : 400);
      }
    },
  };
}

/** The issuer did not answer (connection refused, timed out): worth trying again, unlike a refusal. */
const unreachable = (error: unknown) =>
  error instanceof TypeError ||
  (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")) ||
  (error instanceof MeshError && error.kind === "unavailable");

function explainFailure(error: unknown, issuer: string): string {
  if (unreachable(error)) return `${issuer} could not be reached (${(error as Error).message}); try again shortly.`;
  if (error instanceof oauth.AuthorizationResponseError) {
    return `${issuer} refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ""}.`;
  }
  if (error instanceof oauth.ResponseBodyError)
    return `${issuer} refused the sign-in code: ${error.error}${error.error_description ? ` (${error.error_description})` : ""}.`;
  if (error instanceof MeshError) {
    return error.kind === "unauthenticated"
      ? `You signed in, but the access token ${issuer} gave is not one this controller accepts: ${error.message} ` +
          "The client must issue JWT access tokens for this controller's audience (MESH_JWT_AUDIENCE) with roles at MESH_ROLES_CLAIM."
      : error.message;
  }
  return `The answer from ${issuer} could not be used: ${(error as Error).message}`;
}
