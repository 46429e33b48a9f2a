// graphtap sessions FILE: the proxy runs, replays and imports in a capture.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { renderSessions, useColor } from "../browse/render.js";
import { CaptureReader } from "../recorder/index.js";
import { parseArgs } from "./args.js";

const Args = z.object({ file: z.string().min(1), json: z.boolean().default(false) });

const command: CommandModule = {
  command: "sessions <file>",
  describe: "List the sessions (proxy runs, replays, imports) in a capture",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "capture file (SQLite)" })
      .option("json", { type: "boolean", describe: "print one JSON array" }),
  handler: (argv) => {
    const args = parseArgs(Args, argv);
    const reader = CaptureReader.open(args.file);
    try {
      const sessions = reader.sessions();
      process.stdout.write(
        args.json
          ? `${JSON.stringify(sessions.map((s) => ({ ...s, started: new Date(s.startedAt).toISOString() })), null, 2)}\n`
          : renderSessions(sessions, useColor(process.stdout)),
      );
    } finally {
      reader.close();
    }
  },
};

export default command;
