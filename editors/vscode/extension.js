// Starts `archlang lsp` (the command is the setting archlang.server.command) for .arch files.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace
    .getConfiguration("archlang")
    .get("server.command", ["archlang", "lsp"]);
  client = new LanguageClient(
    "archlang",
    "archlang",
    { command, args },
    { documentSelector: [{ scheme: "file", language: "arch" }, { scheme: "untitled", language: "arch" }] }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
