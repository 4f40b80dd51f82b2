/**
 * Secrets, found by secretlint's recommended rule preset: cloud and API keys, private
 * keys, connection strings with passwords, and the other formats its rules keep up with.
 */
import { lintSource } from "@secretlint/core";
import { creator as recommended } from "@secretlint/secretlint-rule-preset-recommend";
import type { Finding } from "./detectors.ts";

/** An access key id alone names a credential, so it is masked too (the preset looks for it only when asked). */
const CONFIG = {
  rules: [{ id: recommended.meta.id, rule: recommended, rules: [{ id: "@secretlint/secretlint-rule-aws", options: { enableIDScanRule: true } }] }],
};

/** A rule's message id as a placeholder's kind: `AWSAccessKeyID` → `AWS_ACCESS_KEY_ID`. */
export const kindOf = (messageId: string) =>
  messageId
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toUpperCase();

/** The secrets in `text`. A rule that fails makes this fail: the guard then stores nothing. */
export async function findSecrets(text: string): Promise<Finding[]> {
  const result = await lintSource({
    source: { filePath: "/payload.txt", content: text, ext: ".txt", contentType: "text" },
    options: { config: CONFIG as never, maskSecrets: false },
  });
  return result.messages.map((m) => ({ start: m.range[0], end: m.range[1], kind: kindOf(m.messageId) }));
}
