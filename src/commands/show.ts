// graphtap show FILE ID: one exchange in full.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { renderShow, useColor } from "../browse/render.js";
import { findExchange, viewExchange } from "../browse/show.js";
import { CaptureReader } from "../recorder/index.js";
import { parseArgs } from "./args.js";

const Args = z.object({ file: z.string().min(1), id: z.string().min(1), json: z.boolean().default(false) });

const command: CommandModule = {
  command: "show <file> <id>",
  describe: "Show one exchange (id or unique id prefix): headers, bodies, Graph fields, identity",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "capture file (SQLite)" })
      .positional("id", { type: "string", describe: "exchange id or a unique prefix (graphtap list shows them)" })
      .option("json", { type: "boolean", describe: "print one JSON document" }),
  handler: (argv) => {
    const args = parseArgs(Args, { ...(argv as Record<string, unknown>), id: String((argv as { id?: unknown }).id ?? "") });
    const reader = CaptureReader.open(args.file);
    try {
      const view = viewExchange(findExchange(reader, args.id));
      process.stdout.write(args.json ? `${JSON.stringify(view, null, 2)}\n` : renderShow(view, useColor(process.stdout)));
    } finally {
      reader.close();
    }
  },
};

export default command;
