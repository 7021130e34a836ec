// Starts `archlang lsp` for .arch files (the command is the setting archlang.server.command)
// and hands it the settings archlang.network and archlang.set, at start and on each change.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("archlang");
  const [command, ...args] = config.get("server.command", ["archlang", "lsp"]);
  client = new LanguageClient(
    "archlang",
    "archlang",
    { command, args },
    {
      documentSelector: [
        { scheme: "file", language: "arch" },
        { scheme: "untitled", language: "arch" },
      ],
      initializationOptions: { network: config.get("network"), set: config.get("set") },
      synchronize: { configurationSection: "archlang" },
    }
  );
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
