// Tokenises every .arch file of the repository with the TextMate grammar (vscode-textmate,
// the engine VS Code uses) and checks that keywords, op names, numbers, strings and comments
// get their scopes. Run: npm test (in editors/vscode), or through tests/test_highlight.py.
"use strict";
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = path.resolve(__dirname, "..");
const root = path.resolve(here, "..", "..");
const grammarPath = path.join(here, "syntaxes", "arch.tmLanguage.json");
const grammarJson = JSON.parse(fs.readFileSync(grammarPath, "utf8"));
const opPattern = grammarJson.patterns.find((p) => p.name === "support.function.op.arch").match;
const ops = new Set(opPattern.replace(/^\\b\(\?:/, "").replace(/\)\\b$/, "").split("|"));
const keywords = new Set(grammarJson.patterns.find((p) => p.name === "keyword.control.arch")
  .match.replace(/^\\b\(\?:/, "").replace(/\)\\b$/, "").split("|"));
["block", "network", "import"].forEach((k) => keywords.add(k));
// `block`, `network` and `import` start a definition only when a name (a path) follows;
// elsewhere they are names (a layer labelled `block{k + 1}`)
const defining = new Map([["block", /^\s+[A-Za-z_]/], ["network", /^\s+[A-Za-z_]/],
  ["import", /^\s+["']/]]);

function specs(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (["node_modules", ".git", ".venv", "build", "out"].includes(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) specs(full, out);
    else if (entry.name.endsWith(".arch")) out.push(full);
  }
  return out;
}

async function main() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (s) => new oniguruma.OnigScanner(s),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) =>
      scope === "source.arch" ? vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath) : null,
  });
  const grammar = await registry.loadGrammar("source.arch");
  const files = specs(root, []).filter((f) => !f.includes(path.join("tests", "cases", "errors")));
  const counts = { keyword: 0, op: 0, number: 0, string: 0, comment: 0 };
  const failures = [];
  for (const file of files) {
    let state = vsctm.INITIAL;
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
    lines.forEach((line, n) => {
      const result = grammar.tokenizeLine(line, state);
      state = result.ruleStack;
      for (const tok of result.tokens) {
        const text = line.slice(tok.startIndex, tok.endIndex);
        const scopes = tok.scopes.join(" ");
        const where = `${path.relative(root, file)}:${n + 1}:${tok.startIndex + 1} ${JSON.stringify(text)} [${scopes}]`;
        const inText = /comment|string/.test(scopes);
        const expect = (kind, re) => { counts[kind]++; if (!re.test(scopes)) failures.push(`${kind}: ${where}`); };
        if (text.startsWith("#") && !/string/.test(scopes)) expect("comment", /comment\.line/);
        else if (/^["']/.test(text) && !/comment/.test(scopes)) expect("string", /string\.quoted/);
        else if (inText) continue;
        else if (defining.has(text) && !defining.get(text).test(line.slice(tok.endIndex))) continue;
        else if (keywords.has(text) && !/entity\.name/.test(scopes)) expect("keyword", /keyword|storage\.type/);
        else if (/^[0-9.]/.test(text) && /^[0-9._eE+-]+$/.test(text) && text !== ".") expect("number", /constant\.numeric/);
        else if (ops.has(text) && !/\s*:/.test(line.slice(tok.endIndex, tok.endIndex + 2))) expect("op", /support\.function\.op/);
      }
    });
  }
  for (const [kind, n] of Object.entries(counts)) if (n === 0) failures.push(`no ${kind} token seen`);
  if (failures.length) {
    console.error(failures.slice(0, 40).join("\n"));
    console.error(`${failures.length} tokens without their scope`);
    process.exit(1);
  }
  console.log(`ok: ${files.length} specs; ${JSON.stringify(counts)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
