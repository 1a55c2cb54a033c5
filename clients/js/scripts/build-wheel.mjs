// Writes the Python wheel's browser client, src/sessionward/js/sessionward.js, from the
// compiled core (dist/index.js, made by `tsc`): one self-contained ES module, no imports.
// `--check`: write nothing, exit 1 if the committed file differs (what CI asserts).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const compiled = join(here, "dist", "index.js");
const target = join(here, "..", "..", "src", "sessionward", "js", "sessionward.js");
const { version } = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

export function wheelModule(source) {
  if (/^\s*import\s/m.test(source) || /\bimport\(/.test(source)) {
    throw new Error("the core entry must not import anything: the wheel ships it as one file");
  }
  const body = source.replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n").trimEnd();
  const banner =
    `// Generated from clients/js/src/index.ts (sessionward-client ${version}) by\n` +
    "// `npm run build:wheel` in clients/js: edit the TypeScript source, not this file.\n";
  return `${banner}${body}\n`;
}

const wanted = wheelModule(readFileSync(compiled, "utf8"));
const name = relative(process.cwd(), target);
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // missing: differs
  }
  if (current !== wanted) {
    console.error(`${name} is not the build of clients/js/src/index.ts: run \`npm run build:wheel\` in clients/js`);
    process.exit(1);
  }
  console.log(`${name} matches the build`);
} else {
  writeFileSync(target, wanted);
  console.log(`wrote ${name}`);
}
