import { formatCleanup } from "../../local/format.js";
import type { Backend } from "../backend.js";
import { EXIT } from "../errors.js";
import type { CommandIo } from "./io.js";

/** `cleanup --now`: runs the nightly cleanup now; 1 when it failed on a host. */
export async function cleanupCommand(backend: Backend, io: CommandIo): Promise<number> {
  const report = await backend.runCleanup();
  io.out(formatCleanup(report));
  const deferred = (report as { deferred?: number }).deferred ?? 0;
  if (deferred > 0) io.out(`${deferred} pending snapshot(s) left for the next run (out of time)`);
  return report.failed.length === 0 ? EXIT.OK : EXIT.FAILED;
}
