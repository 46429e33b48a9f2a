// graphtap demo: the whole story locally, no tenant needed.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { runDemo } from "../demo/run.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  out: z.string().min(1),
  cycles: z.number().int().min(1).max(20),
  warmFor: z.number().min(0.2).max(60),
  live: z.boolean().default(false),
});

const command: CommandModule = {
  command: "demo",
  describe: "Run the guest 401 → 403 → 200 story against a simulated tenant, then analyze it (no tenant needed)",
  builder: (y: Argv) =>
    y
      .option("out", { type: "string", default: "recordings", describe: "folder for demo.sqlite and demo-report.html" })
      .option("cycles", { type: "number", default: 3, describe: "how many cold → catalyst → warm cycles" })
      .option("warm-for", { type: "number", default: 1.5, describe: "seconds the guest's access lasts after the catalyst" })
      .option("live", { type: "boolean", describe: "show the proxy's live line for every exchange" }),
  handler: async (argv) => {
    const args = parseArgs(Args, argv);
    await runDemo({
      outDir: args.out,
      cycles: args.cycles,
      warmForMs: args.warmFor * 1000,
      out: process.stdout,
      color: process.stdout.isTTY === true && !process.env["NO_COLOR"],
      live: args.live,
    });
  },
};

export default command;
