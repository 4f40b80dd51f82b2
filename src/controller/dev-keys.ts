/**
 * The controller's own signing key, for running without an identity provider.
 * Made on first start in the data folder (readable by its owner only) and reused.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfCommand } from "../lib/self.ts";
import { defaultDataDir } from "./settings.ts";

export const DEV_ISSUER = "urn:agent-mesh:dev";
const ALG = "ES256";
const FILE = "dev-signing-key.json";

/** The controller's own signing key, and the folder it is kept in (the token and login commands read it there). */
export type DevKey = { privateJwk: JWK; publicJwk: JWK; dataDir: string };

export async function loadOrCreateDevKey(dataDir: string): Promise<DevKey> {
  const path = join(dataDir, FILE);
  if (existsSync(path)) {
    const privateJwk = JSON.parse(readFileSync(path, "utf8")) as JWK;
    return { privateJwk, publicJwk: publicPart(privateJwk), dataDir };
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: ALG, use: "sig", kid: crypto.randomUUID() };
  writeFileSync(path, JSON.stringify(privateJwk), { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { privateJwk, publicJwk: publicPart(privateJwk), dataDir };
}

/**
 * `agent-mesh token|login …` as a person runs it for the key in `dataDir`, naming the
 * folder only when it is not the one the commands find by themselves. The controller's
 * start banner and its sign-in pages both say it this way.
 */
export function devKeyCommand(command: "token" | "login", dataDir: string, args: string): string {
  const folder = dataDir === defaultDataDir() ? "" : ` --data-dir ${dataDir.includes(" ") ? JSON.stringify(dataDir) : dataDir}`;
  return `${selfCommand(command)}${folder} ${args}`;
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
