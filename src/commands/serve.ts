// graphtap serve FILE: answer an app from a capture instead of Graph (server replay).
import { readUpstreamCa } from "../proxy/hosts.js";
import type { Argv, CommandModule } from "yargs";
import pc from "picocolors";
import { z } from "zod";
import { UserError } from "../errors.js";
import { resolveSession } from "../browse/list.js";
import { useColor } from "../browse/render.js";
import { shorten } from "../console/live.js";
import { CaptureReader } from "../recorder/index.js";
import { matchOptions } from "../serve/match.js";
import { ReplayServer } from "../serve/server.js";
import { ensureCa, resolveHome } from "../tls/home.js";
import { parseArgs, untilStopSignal } from "./args.js";

const Args = z.object({
  file: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  ignoreQuery: z.array(z.string().min(1)).default([]),
  ignoreHeader: z.array(z.string().min(1)).default([]),
  matchHeader: z.array(z.string().min(1)).default([]),
  ignoreBody: z.boolean().default(false),
  passthrough: z.boolean().default(false),
  anyIdentity: z.boolean().default(false),
  session: z.string().min(1).optional(),
  upstreamCa: z.array(z.string()).default([]),
  home: z.string().optional(),
  quiet: z.boolean().default(false),
});

const command: CommandModule = {
  command: "serve <file>",
  describe: "Answer an app from a capture instead of Graph (server replay through HTTPS_PROXY or a base URL)",
  builder: (y: Argv) =>
    y
      .positional("file", { type: "string", describe: "capture file (SQLite)" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "address to listen on" })
      .option("port", { type: "number", default: 8080, describe: "port to listen on (0 picks a free one)" })
      .option("ignore-query", { type: "string", array: true, describe: "query parameter left out of matching, repeatable" })
      .option("ignore-header", {
        type: "string",
        array: true,
        describe: "request header left out of matching, repeatable (matched by default: prefer, consistencylevel)",
      })
      .option("match-header", {
        type: "string",
        array: true,
        describe: "request header that must match too, repeatable (not authorization: the caller's identity is matched automatically)",
      })
      .option("ignore-body", { type: "boolean", describe: "do not compare request bodies" })
      .option("passthrough", { type: "boolean", describe: "send unmatched requests to the real host instead of a 404" })
      .option("any-identity", {
        type: "boolean",
        describe: "answer any caller with any identity's recordings (default: only the caller's own, by its token's tenant and object id)",
      })
      .option("session", { type: "string", describe: "serve only this session (id or unique prefix)" })
      .option("upstream-ca", { type: "string", array: true, describe: "extra CA (PEM) for --passthrough upstream TLS" })
      .option("home", { type: "string", describe: "graphtap home with the CA (default $GRAPHTAP_HOME or ~/.graphtap)" })
      .option("quiet", { type: "boolean", describe: "no line per request" }),
  handler: async (argv) => {
    const args = parseArgs(Args, argv);
    const upstreamCa = readUpstreamCa(args.upstreamCa);
    const match = matchOptions({
      ignoreQuery: args.ignoreQuery,
      ignoreHeaders: args.ignoreHeader,
      matchHeaders: args.matchHeader,
      ignoreBody: args.ignoreBody,
    });
    // The capture is opened and checked before the CA is touched: a wrong file must not
    // leave a new CA behind (or print that one was made).
    const reader = CaptureReader.open(args.file);
    let session: string | undefined;
    let ca: ReturnType<typeof ensureCa>;
    try {
      session = args.session ? resolveSession(reader.sessions(), args.session).id : undefined;
      ca = ensureCa(resolveHome(args.home));
    } catch (err) {
      reader.close();
      throw err;
    }
    if (ca.created) process.stderr.write(`graphtap: created a CA in ${ca.certPath}\n`);
    const server = new ReplayServer({
      reader,
      authority: ca.authority,
      host: args.host,
      port: args.port,
      match,
      passthrough: args.passthrough,
      anyIdentity: args.anyIdentity,
      upstreamCa,
      ...(session ? { filter: { sessionId: session } } : {}),
    });
    server.on("warning", (m) => process.stderr.write(`graphtap: ${m}\n`));
    const c = pc.createColors(useColor(process.stdout));
    if (!args.quiet) {
      server.on("answer", (a) => {
        const how =
          a.how === "replayed"
            ? c.dim(`replayed ${a.nth}/${a.of} ${a.exchangeId}`)
            : a.how === "unmatched"
              ? c.yellow(a.otherIdentities ? `no recorded response for this identity (${a.otherIdentities} of other identities)` : "no recorded response")
              : c.cyan(a.how);
        process.stdout.write(`${a.method.padEnd(6)} ${a.status} ${shorten(a.url, 80)} ${c.dim(a.upn ?? a.identity)} ${how}\n`);
      });
    }
    let url: string;
    try {
      ({ url } = await server.listen());
    } catch (err) {
      reader.close();
      const code = (err as NodeJS.ErrnoException).code;
      throw new UserError(`cannot listen on ${args.host}:${args.port}: ${code ?? (err as Error).message}`);
    }
    process.stdout.write(
      [
        `graphtap serving ${args.file} on ${url} (${server.recorded} recorded responses, ${args.anyIdentity ? "to any identity" : "each to its own identity"}${args.passthrough ? ", unmatched requests pass through" : ""})`,
        `  point an app at it:  HTTPS_PROXY=${url}  and trust ${ca.certPath}`,
        `  or use it as the Graph base URL:  ${url}/v1.0  (answers as ${server.baseHost})`,
        "  Ctrl-C stops.",
        "",
      ].join("\n"),
    );
    await untilStopSignal();
    await server.close();
    reader.close();
  },
};

export default command;
