/**
 * The controller's own signing key, for running without an identity provider.
 * Made on first start in the data folder (readable by its owner only) and reused.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const DEV_ISSUER = "urn:agent-mesh:dev";
const ALG = "ES256";
const FILE = "dev-signing-key.json";

export type DevKey = { privateJwk: JWK; publicJwk: JWK };

export async function loadOrCreateDevKey(dataDir: string): Promise<DevKey> {
  const path = join(dataDir, FILE);
  if (existsSync(path)) {
    const privateJwk = JSON.parse(readFileSync(path, "utf8")) as JWK;
    return { privateJwk, publicJwk: publicPart(privateJwk) };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: ALG, use: "sig", kid: crypto.randomUUID() };
  writeFileSync(path, JSON.stringify(privateJwk), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { privateJwk, publicJwk: publicPart(privateJwk) };
}

function publicPart({ d: _d, ...publicJwk }: JWK): JWK {
  return publicJwk;
}

/** Where a roles claim such as `realm_access.roles` sits, as nested objects. */
export function nestClaim(path: string, value: unknown): Record<string, unknown> {
  return path.split(".").reduceRight<unknown>((inner, part) => ({ [part]: inner }), value) as Record<string, unknown>;
}

export type MintOptions = { subject: string; roles: string[]; ttlSeconds: number; audience: string; rolesClaim: string };

export async function mintDevToken(key: DevKey, o: MintOptions): Promise<string> {
  return new SignJWT(nestClaim(o.rolesClaim, o.roles))
    .setProtectedHeader({ alg: ALG, kid: key.privateJwk.kid!, typ: "JWT" })
    .setIssuer(DEV_ISSUER)
    .setAudience(o.audience)
    .setSubject(o.subject)
    .setIssuedAt()
    .setExpirationTime(`${o.ttlSeconds}s`)
    .sign(await importJWK(key.privateJwk, ALG));
}
