// graphtap list FILE: one line per exchange, filtered.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { capturePrefixLength, listExchanges } from "../browse/list.js";
import { renderList, useColor } from "../browse/render.js";
import { CaptureReader } from "../recorder/index.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  file: z.string().min(1),
  status: z.string().optional(),
  host: z.string().min(1).optional(),
  identity: z.string().min(1).optional(),
  template: z.string().min(1).optional(),
  method: z.string().min(1).optional(),
  since: z.string().min(1).optional(),
  until: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  limit: z.number().int().min(0).default(0),
  json: z.boolean().default(false),
});

const command: CommandModule = {
  command: "list <file>",
  describe: "List the exchanges of a capture, one line each (filters combine)",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "capture file (SQLite)" })
      .option("status", { type: "string", describe: "status code or class, comma-separated: 401, 4xx, 401,403" })
      .option("host", { type: "string", describe: "only this host" })
      .option("identity", { type: "string", describe: "identity key or token hash, or part of a UPN (case-insensitive: megan)" })
      .option("template", { type: "string", describe: "URL template, exact or a substring (case-insensitive)" })
      .option("method", { type: "string", describe: "only this method" })
      .option("since", { type: "string", describe: "from this ISO time, or a time as list prints it (09:00:02.000, UTC, on the capture's first day); inclusive" })
      .option("until", { type: "string", describe: "before this time (same forms as --since)" })
      .option("session", { type: "string", describe: "session id or unique prefix (graphtap sessions)" })
      .option("limit", { type: "number", default: 0, describe: "at most this many lines (0: all)" })
      .option("json", { type: "boolean", describe: "print one JSON array" }),
  handler: (argv) => {
    const args = parseArgs(Args, argv);
    const reader = CaptureReader.open(args.file);
    try {
      const { file: _file, json, ...opts } = args;
      const listing = listExchanges(reader, opts);
      process.stdout.write(
        json
          ? `${JSON.stringify(listing.rows, null, 2)}\n`
          : renderList(listing.rows, {
              color: useColor(process.stdout),
              width: process.stdout.columns || 120,
              idLength: capturePrefixLength(reader),
            }),
      );
      // On stderr, so the lines on stdout stay one per exchange for pipes.
      if (listing.limited && !json) process.stderr.write(`graphtap: more exchanges match; raise --limit (0 for all)\n`);
    } finally {
      reader.close();
    }
  },
};

export default command;
