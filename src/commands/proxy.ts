// graphtap proxy: record every intercepted Graph call into a capture until stopped.
import type { Argv, CommandModule } from "yargs";
import { z } from "zod";
import { startRecordingProxy } from "../capture/recording-proxy.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import { ensureCa, resolveHome, type EnsureCaResult } from "../tls/home.js";
import { parseArgs, untilStopSignal } from "./args.js";

export const DEFAULT_CAPTURE = "recordings/graphtap.sqlite";

const Args = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  db: z.string().min(1),
  intercept: z.array(z.string().min(1)).default([]),
  upstream: z.array(z.string()).default([]),
  upstreamCa: z.array(z.string()).default([]),
  home: z.string().optional(),
  maxBody: z.number().int().min(0),
  upstreamTimeout: z.number().positive(),
  quiet: z.boolean().default(false),
});

const command: CommandModule = {
  command: "proxy",
  describe: "Run the intercepting proxy and record Graph calls into a capture",
  builder: (y: Argv) =>
    y
      .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on" })
      .option("port", { type: "number", default: 8080, describe: "port to listen on (0 picks a free one)" })
      .option("db", { type: "string", default: DEFAULT_CAPTURE, describe: "capture file (SQLite)" })
      .option("intercept", {
        type: "string",
        array: true,
        describe: `host to decrypt and record, repeatable, '*.sharepoint.com' wildcards (default: ${DEFAULT_GRAPH_HOSTS.join(", ")})`,
      })
      .option("upstream", {
        type: "string",
        array: true,
        describe: "send what is intercepted for HOST to URL instead: HOST=URL, repeatable",
      })
      .option("upstream-ca", { type: "string", array: true, describe: "extra CA (PEM) to verify upstream TLS against" })
      .option("home", { type: "string", describe: "graphtap home with the CA (default $GRAPHTAP_HOME or ~/.graphtap)" })
      .option("max-body", { type: "number", default: 1024 * 1024, describe: "bytes of each body kept in the capture" })
      .option("upstream-timeout", { type: "number", default: 120, describe: "seconds to wait for an upstream response" })
      .option("quiet", { type: "boolean", describe: "no line per exchange" }),
  handler: async (argv) => {
    const args = parseArgs(Args, argv);
    let ca: EnsureCaResult | undefined;
    // Made only after the other flags checked out: a typo never leaves a new CA behind.
    const authority = () => {
      ca = ensureCa(resolveHome(args.home), { permit: args.intercept });
      if (ca.created) process.stderr.write(`graphtap: created a CA in ${ca.certPath}\n`);
      return ca.authority;
    };
    const color = process.stdout.isTTY === true && !process.env["NO_COLOR"];
    const running = await startRecordingProxy({
      host: args.host,
      port: args.port,
      db: args.db,
      authority,
      intercept: args.intercept,
      upstream: args.upstream,
      upstreamCaFiles: args.upstreamCa,
      maxBody: args.maxBody,
      upstreamTimeoutMs: args.upstreamTimeout * 1000,
      ...(args.quiet ? {} : { console: { out: process.stdout, color } }),
      args: { intercept: args.intercept, upstream: args.upstream },
    });
    const { url } = running;
    const certPath = ca?.certPath ?? "the CA (graphtap ca prints its path)";
    process.stdout.write(
      [
        `graphtap proxy listening on ${url}`,
        `  recording to ${args.db} (session ${running.writer.sessionId})`,
        `  intercepting ${running.proxy.intercept.patterns.join(", ")}; other hosts are tunnelled blind`,
        `  point an app at it:  HTTPS_PROXY=${url}  and trust ${certPath}`,
        `    e.g. NODE_EXTRA_CA_CERTS=${certPath}  REQUESTS_CA_BUNDLE=${certPath}  curl --cacert ${certPath}`,
        "  Ctrl-C stops and saves.",
        "",
      ].join("\n"),
    );
    await untilStopSignal();
    await running.stop();
    const summary = running.liveConsole?.summary(args.db) ?? `graphtap: ${running.writer.written} exchanges recorded to ${args.db}`;
    process.stdout.write(`\n${summary}\n`);
  },
};

export default command;
