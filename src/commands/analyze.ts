// graphtap analyze: find the flips in captures and HAR files, name the catalyst, print
// the evidence (text, --json, --html OUT).
import { writeFileSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { analyzeFiles } from "../analyze/analysis.js";
import { renderHtml } from "../analyze/report-html.js";
import { renderJson } from "../analyze/report-json.js";
import { renderText } from "../analyze/report-text.js";
import { UserError } from "../errors.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  files: z.array(z.string().min(1)).min(1, "name at least one capture or HAR file"),
  json: z.boolean().default(false),
  html: z.string().min(1).optional(),
  maxFlips: z.number().int().min(0),
  maxBetween: z.number().int().min(0),
});

const command: CommandModule = {
  command: "analyze <files..>",
  describe: "Find flips (refused, then allowed) in captures or HAR files and name what fixed them",
  builder: (y: Argv) =>
    y
      .positional("files", { type: "string", array: true, describe: "captures (SQLite) and/or HAR files, merged in time order" })
      .option("json", { type: "boolean", describe: "print one JSON document instead of the report" })
      .option("html", { type: "string", describe: "also write a self-contained HTML report to this file" })
      .option("max-flips", { type: "number", default: 20, describe: "flips drawn as timelines in the text report" })
      .option("max-between", { type: "number", default: 200, describe: "calls listed per flip window (the rest are counted)" }),
  handler: (argv) => {
    const args = parseArgs(Args, { ...argv, files: ([] as unknown[]).concat(argv["files"] ?? []).map(String) });
    const doc = analyzeFiles(args.files, { maxBetween: args.maxBetween });
    if (args.html !== undefined) {
      try {
        writeFileSync(args.html, renderHtml(doc, { maxFlips: Math.max(args.maxFlips, 50) }));
      } catch (err) {
        throw new UserError(`cannot write ${args.html}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    if (args.json) {
      process.stdout.write(renderJson(doc));
    } else {
      const color = process.stdout.isTTY === true && !process.env["NO_COLOR"];
      process.stdout.write(renderText(doc, { color, maxFlips: args.maxFlips }));
      if (args.html !== undefined) process.stdout.write(`\nHTML report written to ${args.html}\n`);
    }
  },
};

export default command;
