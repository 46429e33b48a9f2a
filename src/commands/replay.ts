// graphtap replay: re-send a recorded trace to another tenant and show where it diverges.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { UserError } from "../errors.js";
import { formatPlan, formatTable, parsePace, runReplay, summaryLine, toJson } from "../replay/index.js";
import { parseArgs } from "./args.js";

const Args = z.object({
  file: z.string().min(1),
  session: z.string().min(1).optional(),
  identity: z.string().min(1).optional(),
  range: z.string().min(1).optional(),
  flip: z.number().int().min(1).optional(),
  upstream: z.array(z.string()).default([]),
  upstreamCa: z.array(z.string()).default([]),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  tokenCmd: z.string().min(1).optional(),
  map: z.string().min(1).optional(),
  allowWrites: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  json: z.boolean().default(false),
  db: z.string().min(1).optional(),
  pace: z.string().refine((s) => parsePace(s) !== undefined, { message: 'expected "fast", "original" or a speed like "10x"' }),
  failOnDivergence: z.boolean().default(false),
  maxRetries: z.number().int().min(0).max(20),
  maxFailures: z.number().int().min(1),
  timeout: z.number().positive(),
});

const command: CommandModule = {
  command: "replay <file>",
  describe: "Re-send a recorded trace (e.g. to a lab tenant) and show where the answers diverge",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "the capture to replay" })
      .option("session", { type: "string", describe: "only this session of the capture" })
      .option("identity", { type: "string", describe: "only this identity (identity key or upn)" })
      .option("range", { type: "string", describe: "only FROM..TO (exchange ids or 1-based indexes; either side may be left out)" })
      .option("flip", { type: "number", describe: "only flip N as analyze numbers them: the failure, what came between, the success" })
      .option("upstream", { type: "string", array: true, describe: "send what was recorded for HOST to URL (https) instead: HOST=URL, repeatable" })
      .option("upstream-ca", { type: "string", array: true, describe: "extra CA (PEM) to verify upstream TLS against" })
      .option("token", { type: "string", describe: "bearer token for every recorded identity (prefer --token-cmd: this shows in ps)" })
      .option("token-file", { type: "string", describe: "file holding the bearer token" })
      .option("token-cmd", { type: "string", describe: "shell command printing the token; re-run near expiry and on a claims challenge" })
      .option("map", { type: "string", describe: 'JSON map file: { "replace": { prod: lab }, "tokens": { "<identity or upn>": "env:VAR|file:PATH|cmd:COMMAND" } }' })
      .option("allow-writes", { type: "boolean", describe: "also send methods other than GET and HEAD (a $batch whose parts are all GET/HEAD counts as a read and is sent without it)" })
      .option("dry-run", { type: "boolean", describe: "print the rewritten plan (method, URL, token source) and send nothing" })
      .option("json", { type: "boolean", describe: "print one JSON document instead of the table" })
      .option("db", { type: "string", describe: "capture to record the replay into (default recordings/replay-<time>.sqlite)" })
      .option("pace", { type: "string", default: "fast", describe: 'fast (per-identity order kept), original (recorded gaps), or a speed-up like 10x' })
      .option("fail-on-divergence", { type: "boolean", describe: "exit 3 when any step diverged (for CI)" })
      .option("max-retries", { type: "number", default: 3, describe: "retries per step after a 429/503 with Retry-After" })
      .option("max-failures", { type: "number", default: 5, describe: "stop after this many connection failures in a row" })
      .option("timeout", { type: "number", default: 120, describe: "seconds to wait for each response" })
      .epilogue("Only reads are sent unless --allow-writes: GET, HEAD, and a $batch whose parts are all GET/HEAD (it counts as a read)."),
  handler: async (argv) => {
    const args = parseArgs(Args, argv);
    const controller = new AbortController();
    const interrupt = () => controller.abort();
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);
    try {
      const { report, plan } = await runReplay({
        file: args.file,
        select: {
          ...(args.session !== undefined ? { session: args.session } : {}),
          ...(args.identity !== undefined ? { identity: args.identity } : {}),
          ...(args.range !== undefined ? { range: args.range } : {}),
          ...(args.flip !== undefined ? { flip: args.flip } : {}),
        },
        upstream: args.upstream,
        upstreamCaFiles: args.upstreamCa,
        ...(args.token !== undefined ? { token: args.token } : {}),
        ...(args.tokenFile !== undefined ? { tokenFile: args.tokenFile } : {}),
        ...(args.tokenCmd !== undefined ? { tokenCmd: args.tokenCmd } : {}),
        ...(args.map !== undefined ? { map: args.map } : {}),
        ...(args.db !== undefined ? { db: args.db } : {}),
        allowWrites: args.allowWrites,
        dryRun: args.dryRun,
        pace: parsePace(args.pace)!,
        maxRetries: args.maxRetries,
        maxFailures: args.maxFailures,
        timeoutMs: args.timeout * 1000,
        signal: controller.signal,
        // The token itself is never kept: only which kind of source gave it.
        args: {
          session: args.session, identity: args.identity, range: args.range, flip: args.flip, upstream: args.upstream,
          map: args.map, allowWrites: args.allowWrites, pace: args.pace,
          token: args.token !== undefined ? "[redacted]" : undefined, tokenFile: args.tokenFile, tokenCmd: args.tokenCmd !== undefined ? "[command]" : undefined,
        },
      });
      if (args.json) process.stdout.write(toJson(report));
      else if (plan) process.stdout.write(formatPlan(plan, report.skipped));
      else process.stdout.write(formatTable(report, process.stdout.columns || 110));
      if (report.stopped) throw new UserError(`${report.stopped}; ${summaryLine(report)}`);
      if (report.interrupted) {
        process.stderr.write(`graphtap: interrupted; ${summaryLine(report)}\n`);
        process.exitCode = 130;
      } else if (args.failOnDivergence && report.diverged > 0) process.exitCode = 3;
    } finally {
      process.off("SIGINT", interrupt);
      process.off("SIGTERM", interrupt);
    }
  },
};

export default command;
