// The edge between yargs and graphtap: every command validates its arguments with zod.
import type { z } from "zod";
import { UserError } from "../errors.js";

export function parseArgs<T extends z.ZodType>(schema: T, argv: unknown): z.infer<T> {
  const result = schema.safeParse(argv);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `--${issue.path.join(".")}` : "arguments";
  throw new UserError(`bad ${where}: ${issue?.message ?? "invalid"}`);
}

/** Resolves on the first SIGINT or SIGTERM: long-running commands then stop cleanly. */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}
