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
  session: z.array(z.string().min(1)).default([]),
  identity: z.string().min(1).optional(),
  since: z.string().min(1).optional(),
  until: z.string().min(1).optional(),
});

/** An ISO 8601 time (a date alone is midnight UTC) as epoch ms. */
function isoTime(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/i.test(value.trim()) ? Date.parse(value.trim()) : NaN;
  if (Number.isNaN(ms)) throw new UserError(`bad --${flag} "${value}": expected an ISO time such as 2026-02-10T09:00:00Z`);
  return ms;
}

const command: CommandModule = {
  command: "analyze <files..>",
  describe: "Find flips (refused, then allowed) in captures or HAR files and name what fixed them",
  builder: (y: Argv) =>
    y
      // default: undefined, or yargs shows [default: []] next to [required].
      .positional("files", { type: "string", array: true, default: undefined, describe: "captures (SQLite) and/or HAR files, merged in time order" })
      .option("json", { type: "boolean", describe: "print one JSON document instead of the report" })
      .option("html", { type: "string", describe: "also write a self-contained HTML report to this file" })
      .option("max-flips", { type: "number", default: 20, describe: "flips drawn as timelines in the text report" })
      .option("max-between", { type: "number", default: 200, describe: "calls listed per flip window (the rest are counted)" })
      .option("session", { type: "string", array: true, describe: "only this session (repeatable; captures only)" })
      .option("identity", { type: "string", describe: "only this identity: its key or upn (case-insensitive; part of a upn is enough)" })
      .option("since", { type: "string", describe: "only exchanges started at or after this ISO time" })
      .option("until", { type: "string", describe: "only exchanges started before this ISO time" }),
  handler: (argv) => {
    const args = parseArgs(Args, {
      ...argv,
      files: ([] as unknown[]).concat(argv["files"] ?? []).map(String),
      session: ([] as unknown[]).concat(argv["session"] ?? []).map(String),
    });
    const since = isoTime("since", args.since);
    const until = isoTime("until", args.until);
    const doc = analyzeFiles(args.files, {
      maxBetween: args.maxBetween,
      filter: {
        ...(args.session.length ? { sessions: args.session } : {}),
        ...(args.identity !== undefined ? { identity: args.identity } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      },
    });
    for (const w of doc.warnings) process.stderr.write(`graphtap: warning: ${w}\n`);
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
