/**
 * Where a browser is sent after sign-in: for any `next` at all, the target read by a
 * browser (resolved against the controller's address) is on the controller.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { safeNext } from "../../src/controller/sign-in/redirects.ts";

const ORIGINS = ["https://mesh.example.com", "http://127.0.0.1:8088"];
const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

/** Strings made of the pieces that move a URL to another host: slashes, dots, schemes, controls, escapes. */
const urlish = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "/",
        "\\",
        ".",
        "..",
        "%2e",
        "%2f",
        "%5c",
        ":",
        "@",
        "?",
        "#",
        "\t",
        "\n",
        "\r",
        " ",
        "\u0000",
        "\u00a0",
        "evil.example",
        "http:",
        "https:",
        "javascript:",
        "//",
        "%",
      ),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 12 },
  )
  .map((parts) => parts.join(""));

test("for any next, the redirect target stays on the controller's origin", () => {
  fc.assert(
    fc.property(fc.oneof(urlish, fc.string(), fc.webUrl(), fc.webPath()), (next) => {
      const target = safeNext(next);
      for (const origin of ORIGINS) expect(new URL(target, origin).origin).toBe(origin);
    }),
    { numRuns: RUNS },
  );
});

test("a path on the controller is kept as it is", () => {
  for (const next of ["/", "/?approval=42", "/?view=decided#top", "/a/b?c=d"]) expect(safeNext(next)).toBe(next);
});

test("what resolves to another host, or re-reads as one once dot segments are gone, goes to /", () => {
  for (const next of [
    "/.//evil.example/x",
    "/a/..//evil.example",
    "/%2e//evil.example",
    "//evil.example",
    "https://evil.example/",
    "/\\evil.example",
    "/\t/evil.example",
    null,
    "",
  ]) {
    expect(safeNext(next)).toBe("/");
  }
});
