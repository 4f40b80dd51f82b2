/**
 * Secrets, found by the rules of secretlint's recommended preset: cloud and API keys,
 * private keys, connection strings with passwords, and the other formats its rules
 * keep up with. The rules are created once and run on each payload directly:
 * @secretlint/core's lintSource sets up every rule again per call, which costs more
 * than the scanning (see the report of issue 19 and bench/privacy.ts).
 */
import { rules } from "@secretlint/secretlint-rule-preset-recommend";
import type { Finding } from "./detectors.ts";

/** Honours `secretlint-disable` comments: a sender must not be able to switch the guard off from inside a payload. */
const LEFT_OUT = new Set(["@secretlint/secretlint-rule-filter-comments"]);

/** An access key id alone names a credential, so it is masked too (the preset looks for it only when asked). */
const OPTIONS: Record<string, Record<string, unknown>> = { "@secretlint/secretlint-rule-aws": { enableIDScanRule: true } };

type Report = { message: { messageId: string }; range: readonly [number, number] };
type Scanner = { file: (source: { content: string; filePath: string; ext: string; contentType: "text" }) => void };

/** What the rules report to while one payload is scanned. */
let sink: Finding[] | null = null;

const scanners: Scanner[] = rules
  .filter((rule) => !LEFT_OUT.has(rule.meta.id))
  .map(
    (rule) =>
      (rule.create as (context: unknown, options: unknown) => Scanner)(
        {
          sharedOptions: {},
          createTranslator: () => (messageId: string) => ({ message: messageId, messageId }),
          report: ({ message, range }: Report) => sink?.push({ start: range[0], end: range[1], kind: kindOf(message.messageId) }),
          ignore: () => {},
        },
        { allows: [], ...OPTIONS[rule.meta.id] },
      ) as Scanner,
  );

/** A rule's message id as a placeholder's kind: `AWSAccessKeyID` → `AWS_ACCESS_KEY_ID`. */
export const kindOf = (messageId: string) =>
  messageId
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toUpperCase();

/** The secrets in `text`. A rule that throws makes this throw: the guard then stores nothing. */
export function findSecrets(text: string): Finding[] {
  const found: Finding[] = [];
  sink = found;
  try {
    const source = { content: text, filePath: "/payload.txt", ext: ".txt", contentType: "text" as const };
    for (const scanner of scanners) scanner.file(source);
  } finally {
    sink = null;
  }
  return found;
}
