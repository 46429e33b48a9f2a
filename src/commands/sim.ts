// graphtap sim: run the simulated Graph tenant (the guest warm-up story) on loopback.
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { simBanner } from "../sim/banner.js";
import { prodScenario, scenarioByName, startSim } from "../sim/index.js";
import { writeReplayMap } from "../sim/replay-map.js";
import { parseArgs, untilStopSignal } from "./args.js";

const Args = z.object({
  port: z.number().int().min(0).max(65535),
  scenario: z.enum(["prod", "lab"]),
  warmFor: z.number().positive(),
  warmUp: z.boolean().optional(),
  propagationDelay: z.number().min(0),
  tokenLifetime: z.number().positive(),
  caOut: z.string().min(1).optional(),
  gzip: z.boolean(),
  mapOut: z.string().min(1).optional(),
});

const command: CommandModule = {
  command: "sim",
  describe: "Run a simulated Graph tenant on 127.0.0.1 (a guest whose access needs warming up)",
  builder: (y: Argv) =>
    y
      .option("port", { type: "number", default: 0, describe: "port on 127.0.0.1 (0 picks a free one)" })
      .option("scenario", { type: "string", choices: ["prod", "lab"], default: "prod", describe: "prod: guest warm-up on; lab: same shape, other ids, no warm-up" })
      .option("warm-for", { type: "number", default: 5400, describe: "seconds the guest's access lasts after a catalyst call" })
      .option("warm-up", { type: "boolean", describe: "force the guest warm-up on or off (default: on in prod, off in lab)" })
      .option("propagation-delay", { type: "number", default: 0, describe: "seconds between the catalyst and access being granted" })
      .option("token-lifetime", { type: "number", default: 4500, describe: "seconds the printed tokens stay valid" })
      .option("ca-out", { type: "string", describe: "where to write the sim's CA certificate (default: a file in the temp directory)" })
      .option("gzip", { type: "boolean", default: true, describe: "gzip bodies when the client accepts it" })
      .option("map-out", {
        type: "string",
        describe: "write a replay map from the prod scenario's ids to this sim's (with token files), for graphtap replay --map",
      }),
  handler: async (argv) => {
    const args = parseArgs(Args, argv);
    const scenario = scenarioByName(args.scenario, {
      warmForMs: args.warmFor * 1000,
      propagationDelayMs: args.propagationDelay * 1000,
      ...(args.warmUp !== undefined ? { warmUp: args.warmUp } : {}),
    });
    let sim;
    try {
      sim = await startSim({ port: args.port, scenario, gzip: args.gzip, tokenLifetimeMs: args.tokenLifetime * 1000 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" || code === "EACCES") throw new UserError(`cannot listen on 127.0.0.1:${args.port} (${code})`);
      throw err;
    }
    const caPath = args.caOut ?? join(tmpdir(), `graphtap-sim-ca-${sim.port}.pem`);
    try {
      writeFileSync(caPath, sim.caPem);
    } catch (err) {
      await sim.close();
      throw new UserError(`cannot write the CA to ${caPath}: ${(err as Error).message}`);
    }
    process.stdout.write(simBanner(sim, caPath));
    if (args.mapOut) {
      try {
        writeReplayMap(sim, prodScenario(), args.mapOut);
      } catch (err) {
        await sim.close();
        throw new UserError(`cannot write the replay map to ${args.mapOut}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      process.stdout.write(
        [
          `replay map (prod ids → ${scenario.name} ids, tokens in files beside it): ${args.mapOut}`,
          `  graphtap replay recordings/demo.sqlite --map ${args.mapOut} --upstream graph.microsoft.com=${sim.url} --upstream-ca ${caPath}`,
          "",
        ].join("\n"),
      );
    }
    await untilStopSignal();
    await sim.close();
    // The default CA file is a throw-away like the CA itself; one the user named stays.
    if (!args.caOut) rmSync(caPath, { force: true });
    process.stdout.write(`sim stopped after ${sim.requests.length} requests\n`);
    process.exitCode = 0;
  },
};

export default command;
