// graphtap export FILE --har OUT | --devproxy-mocks OUT: a capture for other tools.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { resolveSession } from "../browse/list.js";
import { exportDevProxyMocks } from "../interop/devproxy.js";
import { exportHar } from "../interop/har-export.js";
import { CaptureReader, type ExchangeFilter } from "../recorder/index.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  file: z.string().min(1),
  har: z.string().min(1).optional(),
  devproxyMocks: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
});

const command: CommandModule = {
  command: "export <file>",
  describe: "Write a capture as HAR 1.2 (DevTools, Fiddler, Charles) and/or a Dev Proxy mocks file",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "capture file (SQLite)" })
      .option("har", { type: "string", describe: "write a HAR 1.2 file here" })
      .option("devproxy-mocks", { type: "string", describe: "write a Dev Proxy MockResponsePlugin mocks file here" })
      .option("session", { type: "string", describe: "only this session (id or unique prefix)" }),
  handler: (argv) => {
    const args = parseArgs(Args, argv);
    if (!args.har && !args.devproxyMocks) throw new UserError("say what to write: --har OUT and/or --devproxy-mocks OUT");
    const reader = CaptureReader.open(args.file);
    try {
      const filter: ExchangeFilter = {};
      if (args.session) filter.sessionId = resolveSession(reader.sessions(), args.session).id;
      const lines: string[] = [];
      if (args.har) {
        const r = exportHar(reader, args.har, filter);
        lines.push(`wrote ${r.entries} entr${r.entries === 1 ? "y" : "ies"} to ${r.file} (HAR 1.2; tokens stay redacted)`);
      }
      if (args.devproxyMocks) {
        const r = exportDevProxyMocks(reader, args.devproxyMocks, filter);
        lines.push(
          `wrote ${r.mocks} mock${r.mocks === 1 ? "" : "s"} to ${r.file}` +
            (r.bodyFiles ? ` (+${r.bodyFiles} binary bod${r.bodyFiles === 1 ? "y" : "ies"} beside it)` : "") +
            (r.skipped ? `; ${r.skipped} exchange${r.skipped === 1 ? "" : "s"} without a response skipped` : ""),
          `  use it: devproxy --mocks-file ${r.file}`,
        );
      }
      process.stdout.write(`${lines.join("\n")}\n`);
    } finally {
      reader.close();
    }
  },
};

export default command;
