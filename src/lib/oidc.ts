/** OpenID Connect discovery, as both sides use it: the controller for keys, clients for tokens. */

/** Where an issuer publishes its configuration (OpenID Connect Discovery 1.0, section 4). */
export const discoveryUrl = (issuer: string) => `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;

/**
 * One endpoint from an issuer's discovery document, or why it cannot be used. The
 * document must name the issuer it was asked for: otherwise it is someone else's.
 */
export function endpointFrom(issuer: string, document: unknown, field: "jwks_uri" | "token_endpoint"): { url: string } | { problem: string } {
  const where = discoveryUrl(issuer);
  const doc = document && typeof document === "object" ? (document as Record<string, unknown>) : {};
  if (doc.issuer !== issuer) return { problem: `${where} names issuer ${JSON.stringify(doc.issuer)}, not ${issuer}` };
  const url = doc[field];
  return typeof url === "string" ? { url } : { problem: `${where} names no ${field}` };
}
