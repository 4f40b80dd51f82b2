/**
 * Agent Cards (A2A v1.0 §8): who an agent is, where its JSON-RPC endpoint is, how a
 * caller authenticates (the bearer token the API takes; the OIDC issuer when there is
 * one) and what it can do, a skill per role.
 */
import { discoveryUrl } from "../../lib/oidc.ts";
import { VERSION } from "../../lib/version.ts";

export type CardOf = {
  /** The controller's address as callers reach it, without a trailing slash. */
  baseUrl: string;
  name: string;
  description: string;
  /** The roles the card's agent serves: one skill and one endpoint each. */
  roles: readonly string[];
  /** Protocol versions each endpoint speaks, preferred first. */
  versions: readonly string[];
  pushNotifications: boolean;
  oidcIssuer?: string;
};

export const endpointOf = (baseUrl: string, role: string) => `${baseUrl}/a2a/${encodeURIComponent(role)}`;

export function agentCard({ baseUrl, name, description, roles, versions, pushNotifications, oidcIssuer }: CardOf) {
  return {
    name,
    description,
    supportedInterfaces: roles.flatMap((role) =>
      versions.map((protocolVersion) => ({ url: endpointOf(baseUrl, role), protocolBinding: "JSONRPC", protocolVersion })),
    ),
    provider: { organization: "Agent Mesh", url: baseUrl },
    version: VERSION,
    capabilities: { streaming: true, pushNotifications },
    securitySchemes: {
      bearer: { httpAuthSecurityScheme: { scheme: "Bearer", bearerFormat: "JWT", description: "A token the mesh accepts, as for its REST API." } },
      ...(oidcIssuer && { oidc: { openIdConnectSecurityScheme: { openIdConnectUrl: discoveryUrl(oidcIssuer) } } }),
    },
    securityRequirements: [{ schemes: { bearer: { list: [] } } }, ...(oidcIssuer ? [{ schemes: { oidc: { list: ["openid"] } } }] : [])],
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["application/json"],
    skills: roles.map((role) => ({
      id: role,
      name: `Work for role ${role}`,
      description: `A task for whoever holds role ${role}: the message's text is its description, its data parts its data; the result comes back as an artifact. Endpoint ${endpointOf(baseUrl, role)}.`,
      tags: ["agent-mesh", role],
    })),
  };
}
