// The reference's YAML reading, as a batch: a JSON list of data block sources on stdin ->
// one JSON line per block: {"json": <the value as the CLI's JSON export writes it>} or
// {"error": reason, "line": L, "column": C} (0-based, within the block).
// js-yaml is the copy @argdown/cli 1.7.5 resolves (DataPlugin calls yaml.load(source, {})).
"use strict";
const path = require("path");
const cli = require.resolve("@argdown/core", { paths: [__dirname] });
const yaml = require(require.resolve("js-yaml", { paths: [path.dirname(cli)] }));
const sources = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = sources.map((source) => {
  try {
    const value = yaml.load(source, {});
    return { json: value === undefined ? null : JSON.parse(JSON.stringify(value)) };
  } catch (e) {
    if (!e.mark) throw e;
    return { error: e.reason, line: e.mark.line, column: e.mark.column };
  }
});
process.stdout.write(out.map((r) => JSON.stringify(r)).join("\n") + "\n");
