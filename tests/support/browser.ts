/**
 * A real browser for the page's tests: Debian's chromium driven by playwright-core.
 * Playwright cannot download a browser here, so the set-up installs Debian's package
 * when it is missing and this process may (root with apt-get, as in CI).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";

/** Long enough for apt-get to fetch and unpack chromium on a fresh machine. */
export const BROWSER_SETUP_MS = 600_000;

async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  const apt = Bun.which("apt-get");
  if (apt && process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const install = () => Bun.spawn([apt, "install", "-y", "--no-install-recommends", "chromium"], { env, stdout: "ignore", stderr: "pipe" }).exited;
    // A fresh machine may not have read the package lists yet.
    if ((await install()) !== 0) {
      await Bun.spawn([apt, "update"], { env, stdout: "ignore", stderr: "ignore" }).exited;
      await install();
    }
  }
  if (!existsSync(CHROMIUM)) throw new Error(`The browser tests need Debian's chromium at ${CHROMIUM}: install it with \`sudo apt-get install -y chromium\`.`);
}

export async function launchBrowser(): Promise<Browser> {
  await ensureChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    // Without the networking flags chromium keeps calling out to Google, which this machine refuses.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}
