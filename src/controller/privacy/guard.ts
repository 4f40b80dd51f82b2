/**
 * The privacy guard: what may be stored. Before a payload is written, its text and the
 * values in its JSON are scanned for secrets and personal data; each finding is masked
 * with a typed placeholder (`[EMAIL]`), or the request is refused naming the field and
 * the kind, never the value. Scanning that fails stores nothing (it fails closed).
 */
import { MeshError } from "../../contract/errors.ts";
import type { MaskedField } from "../../contract/schemas.ts";
import { BUILT_IN_DETECTORS, patternDetector, type Detector, type Finding } from "./detectors.ts";
import { findSecrets } from "./secrets.ts";

export type PrivacyMode = "mask" | "reject" | "off";

export type PrivacyRules = {
  mode: PrivacyMode;
  /** Kinds not looked for; `SECRETS` switches off every rule of the secretlint preset. */
  kindsOff: readonly string[];
  /** The operator's own kinds: a name and a regular expression. */
  patterns: Readonly<Record<string, string>>;
  /** Field paths (and everything under them) left as sent, e.g. `task.data.repo`. */
  exempt: readonly string[];
};

/** What a write stores once screened, and what was masked in it. */
export type Screened<F> = { fields: F; masked: MaskedField[] };

/** Findings by kind, as the audit row and metrics keep them: never the values. */
export function countsOf(masked: readonly MaskedField[]): Record<string, number> | null {
  if (!masked.length) return null;
  const counts: Record<string, number> = {};
  for (const { kind, count } of masked) counts[kind] = (counts[kind] ?? 0) + count;
  return counts;
}

type Leaf = { path: string; text: string };

/** Between two values in the text the detectors read: no pattern spans it. */
const SEPARATOR = "\n\n";

export class PrivacyGuard {
  readonly #rules: PrivacyRules;
  readonly #detectors: readonly Detector[];
  readonly #secrets: ((text: string) => Finding[]) | null;
  readonly #found = new Map<string, number>();

  /** `extra` detectors run with the built-in ones (the operator's patterns are added from `rules`). */
  constructor(rules: PrivacyRules, extra: readonly Detector[] = []) {
    this.#rules = rules;
    const off = new Set(rules.kindsOff);
    const own = Object.entries(rules.patterns).map(([kind, pattern]) => patternDetector(kind, new RegExp(pattern, "mu")));
    this.#detectors = [...BUILT_IN_DETECTORS, ...own, ...extra].filter((d) => !off.has(d.kind));
    this.#secrets = off.has("SECRETS") ? null : findSecrets;
  }

  get mode(): PrivacyMode {
    return this.#rules.mode;
  }

  /** Findings masked or refused since start, by kind, for /metrics. */
  get found(): ReadonlyMap<string, number> {
    return this.#found;
  }

  /**
   * Screens the payload fields of one write, named by the path a caller knows them by
   * (`task.data`, `result`, `reason`): masked copies and what was masked, or a 422 in
   * `reject` mode. Any failure to scan is an error: nothing unscanned is stored.
   */
  async screen<F extends Record<string, unknown>>(fields: F): Promise<Screened<F>> {
    if (this.#rules.mode === "off") return { fields, masked: [] };
    let screened: Screened<F>;
    try {
      screened = await this.#mask(fields);
    } catch (error) {
      throw new MeshError(
        "internal",
        `The privacy guard could not scan this request (${(error as Error)?.message ?? String(error)}), so nothing was stored; the controller's operator should look at MESH_PRIVACY_* settings and its log.`,
      );
    }
    for (const { kind, count } of screened.masked) this.#found.set(kind, (this.#found.get(kind) ?? 0) + count);
    if (this.#rules.mode === "reject" && screened.masked.length) {
      const kinds = [...new Set(screened.masked.map((m) => m.kind))].join(", ");
      throw new MeshError(
        "invalid",
        `The request holds data this controller does not store (${kinds}); send a reference to it (a ticket, a vault path) instead of the value.`,
        screened.masked.map(({ field, kind, count }) => ({ field, message: `holds ${count === 1 ? "a" : count} ${kind} value${count === 1 ? "" : "s"}` })),
      );
    }
    return screened;
  }

  async #mask<F extends Record<string, unknown>>(fields: F): Promise<Screened<F>> {
    const leaves: Leaf[] = [];
    for (const [path, value] of Object.entries(fields)) collect(value, path, leaves, this.#rules.exempt);
    // One text for every detector, so each pattern runs once per request rather than once per value.
    const starts: number[] = [];
    let at = 0;
    for (const leaf of leaves) {
      starts.push(at);
      at += leaf.text.length + SEPARATOR.length;
    }
    const text = leaves.map((l) => l.text).join(SEPARATOR);
    const found: Finding[][] = leaves.map(() => []);
    for (const finding of [...this.#detectors.flatMap((d) => d.find(text)), ...(this.#secrets?.(text) ?? [])]) {
      const i = lastAtOrBefore(starts, finding.start);
      const start = finding.start - starts[i]!;
      const length = leaves[i]!.text.length;
      if (start < length) found[i]!.push({ kind: finding.kind, start, end: Math.min(finding.end - starts[i]!, length) });
    }
    const replacements = new Map<number, string>();
    const masked: MaskedField[] = [];
    found.forEach((findings, i) => {
      if (!findings.length) return;
      const { text, counts } = masking(leaves[i]!.text, findings);
      replacements.set(i, text);
      for (const [kind, count] of counts) masked.push({ field: leaves[i]!.path, kind, count });
    });
    if (!replacements.size) return { fields, masked };
    let index = 0;
    const rebuilt = Object.fromEntries(
      Object.entries(fields).map(([path, value]) => [path, rebuild(value, path, this.#rules.exempt, () => replacements.get(index++))]),
    ) as F;
    return { fields: rebuilt, masked };
  }
}

const exempted = (path: string, exempt: readonly string[]) => exempt.some((e) => path === e || path.startsWith(`${e}.`) || path.startsWith(`${e}[`));

const childPath = (path: string, key: string | number) => (typeof key === "number" ? `${path}[${key}]` : `${path}.${key}`);

/** Text and numbers in `value`, depth first, with their paths; exempt paths are skipped. */
function collect(value: unknown, path: string, into: Leaf[], exempt: readonly string[]): void {
  if (exempted(path, exempt)) return;
  if (typeof value === "string") into.push({ path, text: value });
  else if (typeof value === "number") into.push({ path, text: String(value) });
  else if (Array.isArray(value)) value.forEach((v, i) => collect(v, childPath(path, i), into, exempt));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) collect(v, childPath(path, k), into, exempt);
}

/** `value` again, each leaf `collect` saw (in the same order) replaced by `next()` when that gives a text. */
function rebuild(value: unknown, path: string, exempt: readonly string[], next: () => string | undefined): unknown {
  if (exempted(path, exempt)) return value;
  if (typeof value === "string" || typeof value === "number") return next() ?? value;
  if (Array.isArray(value)) return value.map((v, i) => rebuild(v, childPath(path, i), exempt, next));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuild(v, childPath(path, k), exempt, next)]));
  return value;
}

/** `text` with each finding replaced by `[KIND]`; of overlapping findings the first (then longest) wins. */
function masking(text: string, findings: Finding[]): { text: string; counts: Map<string, number> } {
  const ordered = findings.toSorted((a, b) => a.start - b.start || b.end - a.end);
  const counts = new Map<string, number>();
  let out = "";
  let at = 0;
  for (const f of ordered) {
    if (f.start < at) continue;
    out += `${text.slice(at, f.start)}[${f.kind}]`;
    at = f.end;
    counts.set(f.kind, (counts.get(f.kind) ?? 0) + 1);
  }
  return { text: out + text.slice(at), counts };
}

/** The index of the last start at or before `offset` (starts ascend). */
function lastAtOrBefore(starts: readonly number[], offset: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
