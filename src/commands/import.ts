// graphtap import HAR --db OUT: a HAR file (DevTools, Fiddler, Charles, or graphtap's
// own export) into a new "import" session of a capture.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { importHar } from "../interop/har-import.js";
import { DEFAULT_CAPTURE } from "./proxy.js";
import { parseArgs } from "./args.js";

const Args = z.object({ har: z.string().min(1), db: z.string().min(1), label: z.string().optional() });

const command: CommandModule = {
  command: "import <har>",
  describe: "Import a HAR file into a capture, as a new session of kind import",
  builder: (y: Argv) =>
    y
      .positional("har", { type: "string", describe: "HAR 1.2 file" })
      .option("db", { type: "string", default: DEFAULT_CAPTURE, describe: "capture file to add the session to" })
      .option("label", { type: "string", describe: "a label for the new session" }),
  handler: (argv) => {
    const args = parseArgs(Args, argv);
    const r = importHar(args.har, args.db, args.label ? { label: args.label } : {});
    const notes = [
      r.lossless ? `${r.lossless} with graphtap's own fields` : "",
      r.renamed ? `${r.renamed} given new ids (already in the capture)` : "",
    ].filter(Boolean);
    process.stdout.write(
      `imported ${r.imported} exchange${r.imported === 1 ? "" : "s"} from ${args.har} into ${args.db}, session ${r.sessionId}` +
        `${notes.length ? ` (${notes.join("; ")})` : ""}\n  next: graphtap analyze ${args.db}\n`,
    );
  },
};

export default command;
