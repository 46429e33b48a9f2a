// The capture file's public API: open it, write to it in batches, stream it back.
export { CaptureWriter, type SessionStart, type WriterOptions } from "./writer.js";
export {
  CaptureReader,
  type ExchangeFilter,
  type ExchangeSummary,
  type IdentityRow,
  type SessionInfo,
  type SessionKind,
  type TunnelFilter,
} from "./reader.js";
export { MIGRATIONS, SCHEMA_VERSION, captureError, migrate, openCapture, type Migration, type OpenOptions } from "./schema.js";
