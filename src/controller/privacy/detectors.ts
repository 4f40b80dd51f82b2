/**
 * Personal data and the secrets no rule of the secretlint preset covers, found by
 * pattern and, where the format has one, checked by its check digits so a run of
 * digits that merely looks like one is left alone.
 */
import { ibanValid, luhnValid, spanishIdValid, ssnValid } from "./checksums.ts";

/** Where in a text something was found, and what kind of thing it is. */
export type Finding = { start: number; end: number; kind: string };

export type Detector = { kind: string; find: (text: string) => Finding[] };

/** Each match of `pattern` that `keep` accepts (given the match) is a finding of `kind`. */
export function patternDetector(kind: string, pattern: RegExp, keep: (match: RegExpExecArray) => boolean = () => true): Detector {
  const global = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
  return {
    kind,
    find(text) {
      const found: Finding[] = [];
      for (const match of text.matchAll(global)) {
        if (match[0].length > 0 && keep(match)) found.push({ start: match.index, end: match.index + match[0].length, kind });
      }
      return found;
    },
  };
}

const digitsOf = (text: string) => text.replace(/[^0-9]/g, "");

/** The kinds built in, by name: an operator may switch any of them off (MESH_PRIVACY_KINDS_OFF). */
export const BUILT_IN_DETECTORS: readonly Detector[] = [
  patternDetector("EMAIL", /(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b/),
  // International numbers (E.164, written with + and separators) and North American ones in their usual spellings.
  patternDetector(
    "PHONE",
    /(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)|(?<!\w)\(\d{3}\) ?\d{3}-\d{4}(?!\w)|(?<![\w-])\d{3}-\d{3}-\d{4}(?![\w-])/,
    (m) => {
      const n = digitsOf(m[0]).length;
      return n >= 8 && n <= 15;
    },
  ),
  patternDetector("CARD_NUMBER", /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/, (m) => luhnValid(digitsOf(m[0]))),
  patternDetector("IBAN", /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/, (m) => ibanValid(m[0].replace(/ /g, ""))),
  patternDetector("US_SSN", /(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])/, (m) => ssnValid(m[1]!, m[2]!, m[3]!)),
  patternDetector("ES_DNI", /\b[XYZ0-9]\d{7}[A-Z]\b/, (m) => spanishIdValid(m[0])),
  // Signed tokens (JWT, JWS): a header that is base64url JSON, a payload and a signature.
  patternDetector("JWT", /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/),
  // user:password@ in any URL; secretlint's rules know particular schemes only.
  patternDetector("URL_PASSWORD", /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s:/@]{1,128}:[^\s@/]{1,256}@/i),
];
