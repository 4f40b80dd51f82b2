/**
 * The page's modules as one browser script, made by Bun.build. Runs in Bun, not in
 * the browser: scripts/build.ts bundles the page into the executable, and a controller
 * run from source bundles it at the first request (src/controller/sign-in/page.ts).
 */
import { join } from "node:path";
import type { BunPlugin } from "bun";

/** The page imports only its own modules (and types): no package, zod above all, reaches the browser. */
const onlyOwnModules: BunPlugin = {
  name: "only-own-modules",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, ({ path, importer }) => {
      if (!importer) return undefined; // the entry point itself
      throw new Error(`The page may not use packages, but it reaches "${path}" through ${importer}: take only types from there (\`import type\`).`);
    });
  },
};

export async function bundlePage(entry = join(import.meta.dir, "main.ts")): Promise<string> {
  const built = await Bun.build({ entrypoints: [entry], target: "browser", format: "esm", minify: true, plugins: [onlyOwnModules] });
  const [script] = built.outputs;
  if (!script || built.outputs.length !== 1) throw new Error(`Bundling the page made ${built.outputs.length} files; it should make one script.`);
  return script.text();
}
