/**
 * `agent-rollout`: the operator CLI. Parses the command line, opens the deployed
 * stack or local mode's work dir, runs the command, and exits with its code; every
 * error is one line on stderr.
 *
 * @module
 */
import { UsageError } from "../local/usage-error.js";
import { type Command, HELP, parseCommandLine, type Target } from "./args.js";
import { awsClients, openAwsBackend } from "./aws-backend.js";
import type { Backend } from "./backend.js";
import { approvalCommand } from "./commands/approve.js";
import { cleanupCommand } from "./commands/cleanup.js";
import { type CommandIo, processIo } from "./commands/io.js";
import { listCommand } from "./commands/list.js";
import { reportCommand } from "./commands/report.js";
import { rollbackCommand } from "./commands/rollback.js";
import { startCommand } from "./commands/start.js";
import { statusCommand } from "./commands/status.js";
import { unlockCommand } from "./commands/unlock.js";
import { watchRollout } from "./commands/watch.js";
import { CliError, describeAwsError, EXIT } from "./errors.js";
import { openLocalBackend } from "./local-backend.js";
import { resolveRolloutId } from "./view.js";

/** Opens where the commands run. */
export async function openBackend(target: Target): Promise<Backend> {
  if (target.kind === "local") return openLocalBackend(target.dir);
  return openAwsBackend(target.stack, awsClients(target.region));
}

/** Runs one parsed command on `backend`. */
export async function runCommand(
  backend: Backend,
  command: Exclude<Command, { name: "help" }>,
  io: CommandIo,
  signal?: AbortSignal,
): Promise<number> {
  switch (command.name) {
    case "start":
      return startCommand(backend, { ...command, ...(signal ? { signal } : {}) }, io);
    case "status":
      return statusCommand(backend, command.rolloutId, io);
    case "watch":
      return watchRollout(backend, await resolveRolloutId(backend, command.rolloutId), io, {
        intervalMs: command.intervalMs ?? backend.pollMs,
      });
    case "list":
      return listCommand(backend, command.limit, io);
    case "report":
      return reportCommand(backend, command.rolloutId, command.html, io);
    case "cleanup":
      return cleanupCommand(backend, io);
    case "unlock":
      return unlockCommand(backend, command.target, io);
    case "approve":
      return approvalCommand(backend, { ...command, decision: "approve" }, io);
    case "reject":
      return approvalCommand(backend, { ...command, decision: "reject" }, io);
    case "rollback":
      return rollbackCommand(backend, { ...command, ...(signal ? { signal } : {}) }, io);
  }
}

/** An error as one line and an exit code. */
export function explain(error: unknown): { message: string; code: number } {
  if (error instanceof UsageError) {
    return { message: `${error.message}\nTry: npx agent-rollout --help`, code: EXIT.USAGE };
  }
  if (error instanceof CliError) return { message: error.message, code: error.exitCode };
  const aws = describeAwsError(error);
  if (aws !== undefined) return { message: aws.message, code: aws.exitCode };
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { message: text, code: EXIT.FAILED };
}

/** The whole CLI: argv in, exit code out. */
export async function main(argv: readonly string[], io: CommandIo = processIo): Promise<number> {
  let backend: Backend | undefined;
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(EXIT.INTERRUPTED);
    interrupted = true;
    process.stderr.write("\ninterrupted: stopping (Ctrl-C again to force)\n");
    abort.abort();
  };
  try {
    const { command, target } = parseCommandLine(argv);
    if (command.name === "help") {
      process.stdout.write(HELP);
      return EXIT.OK;
    }
    backend = await openBackend(target);
    process.on("SIGINT", onSignal);
    const code = await runCommand(backend, command, io, abort.signal);
    return interrupted ? EXIT.INTERRUPTED : code;
  } catch (error) {
    const { message, code } = explain(error);
    process.stderr.write(`agent-rollout: ${message}\n`);
    return code;
  } finally {
    process.off("SIGINT", onSignal);
    await backend?.close().catch(() => undefined);
  }
}

// Local mode runs on Node 20 while the functions run on Lambda's Node 22: the SDK's
// notice about its future Node 20 support is not this tool's to print.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

if (
  process.argv[1] !== undefined &&
  import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/"))
) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
