// npm links bin files as executables only on install; a plain `tsc` rebuild drops
// the mode, so keep dist/cli.js runnable as ./dist/cli.js too.
import { chmodSync, existsSync } from "node:fs";
if (existsSync("dist/cli.js")) chmodSync("dist/cli.js", 0o755);
