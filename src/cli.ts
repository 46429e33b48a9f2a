#!/usr/bin/env node
// graphtap's command line: yargs parses, each command module validates and calls one
// module. A UserError is one line on stderr and a non-zero exit; anything else is a bug.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { UserError } from "./errors.js";
import analyze from "./commands/analyze.js";
import ca from "./commands/ca.js";
import proxy from "./commands/proxy.js";
import replay from "./commands/replay.js";
import sim from "./commands/sim.js";
import demo from "./commands/demo.js";
import sessions from "./commands/sessions.js";
import list from "./commands/list.js";
import show from "./commands/show.js";
import exportCommand from "./commands/export.js";
import importCommand from "./commands/import.js";
import serve from "./commands/serve.js";

function fail(err: unknown): never {
  if (err instanceof UserError) {
    process.stderr.write(`graphtap: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const sys = systemError(err);
  if (sys) {
    process.stderr.write(`graphtap: ${sys}\n`);
    process.exit(2);
  }
  process.stderr.write(`graphtap: unexpected error (a bug; please report it):\n${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(70);
}

/**
 * An error from the operating system (a folder that cannot be written, a file that is
 * a directory, a full disk) is the environment's, not a bug: say it in one line.
 */
function systemError(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e || typeof e.code !== "string" || typeof e.syscall !== "string" || !/^E[A-Z]+$/.test(e.code)) return undefined;
  const reasons: Record<string, string> = {
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EEXIST: "a file is in the way",
    ENOENT: "no such file or folder",
    ENOTDIR: "a part of the path is not a folder",
    EISDIR: "it is a folder",
    EROFS: "read-only file system",
    ENOSPC: "no space left on the device",
  };
  const where = e.path ? ` ${e.path}` : "";
  return `cannot ${e.syscall}${where}: ${reasons[e.code] ?? e.code} (${e.code})`;
}

// `graphtap … | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName("graphtap")
    .usage("$0 <command> [options]\n\nRecord, explain and replay Microsoft Graph traffic.")
    .command(proxy)
    .command(replay)
    .command(ca)
    .command(analyze)
    .command(sim)
    .command(demo)
    .command(sessions)
    .command(list)
    .command(show)
    .command(exportCommand)
    .command(importCommand)
    .command(serve)
    .demandCommand(1, "name a command (graphtap --help lists them)")
    .strict()
    .recommendCommands()
    .help()
    .alias("h", "help")
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      throw new UserError(/--help/.test(msg) ? msg : `${msg} (see graphtap --help)`);
    })
    .parseAsync();
}

main().catch(fail);
