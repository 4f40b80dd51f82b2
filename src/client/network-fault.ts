/** Why a connection failed, in terms a person can act on, for every client that calls out. */

export type NetworkFault = "refused" | "no_such_host" | "closed" | "tls" | "other";

/** Bun's (and Node's) error codes, in words; Bun's own wording is for its developers. */
export function networkFault(error: unknown): { network: NetworkFault; detail: string } {
  const code = String((error as { code?: unknown }).code ?? "");
  if (/REFUSED/i.test(code)) return { network: "refused", detail: "the connection was refused" };
  if (/NOTFOUND|EAI_AGAIN|DNS/i.test(code)) return { network: "no_such_host", detail: "the host name could not be resolved" };
  if (/RESET|CLOSED|EPIPE|ECONNABORTED/i.test(code)) return { network: "closed", detail: "the connection closed before an answer came" };
  if (/EPROTO|CERT|TLS|SSL/i.test(code)) return { network: "tls", detail: "the TLS handshake failed" };
  return { network: "other", detail: `the connection failed${code ? ` (${code})` : ""}` };
}
