/**
 * The command line of `agent-rollout`: one parse into a typed command, every mistake a
 * {@link UsageError} (exit 2) naming the option.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { UsageError } from "../local/usage-error.js";
import type { InputFlags } from "./start-input.js";

/** Default stack name (bin/agent-rollout.ts). */
export const DEFAULT_STACK = "AgentRollout";

/** Where the commands run: a deployed stack, or local mode's kept work dir. */
export type Target =
  | { readonly kind: "aws"; readonly stack: string; readonly region?: string }
  | { readonly kind: "local"; readonly dir: string };

/** A parsed command line. */
export type Command =
  | { readonly name: "help" }
  | {
      readonly name: "start";
      readonly flags: InputFlags;
      readonly rolloutId?: string;
      readonly watch: boolean;
      readonly jobsPerHost: number;
    }
  | { readonly name: "status"; readonly rolloutId?: string }
  | { readonly name: "watch"; readonly rolloutId?: string; readonly intervalMs?: number }
  | { readonly name: "list"; readonly limit: number }
  | { readonly name: "report"; readonly rolloutId: string; readonly html: string }
  | { readonly name: "cleanup" }
  | { readonly name: "unlock"; readonly target: string }
  | { readonly name: "approve"; readonly rolloutId: string }
  | { readonly name: "reject"; readonly rolloutId: string; readonly reason?: string }
  | {
      readonly name: "rollback";
      /** The rollout to roll back. */
      readonly target: string;
      readonly rolloutId?: string;
      readonly dryRun: boolean;
      readonly breakLock?: string;
      readonly watch: boolean;
      readonly jobsPerHost: number;
    };

export const HELP = `agent-rollout: operate rollouts of a deployed stack, or of local mode's kept work dir.

Usage: npx agent-rollout <command> [options]

Commands:
  start [input options]      validate an execution input, then start the rollout
  status [ROLLOUT]           the rollout (default: the latest) and a per-host table
  watch [ROLLOUT]            progress lines until the rollout ends
  list [--limit N]           recent rollouts, newest first (default 20)
  report ROLLOUT --html FILE a self-contained HTML report with a per-host timeline
  cleanup --now              run the nightly cleanup now: what it deleted, kept, and why
  unlock FLEET               free a fleet lock whose owner no longer runs, or that expired
  unlock HOST                free a host's lease (HOST: an instance id) whose owner no
                             longer runs, or no longer holds its fleet's lock
  approve ROLLOUT            let a rollout waiting at its approval gate start its next wave
  reject ROLLOUT [--reason TEXT]
                             halt a rollout waiting at its approval gate, with the reason
  rollback ROLLOUT           start a rollout that returns every host ROLLOUT upgraded to
                             its previous release, in ROLLOUT's waves and thresholds
                             (--rollout-id, --dry-run, --break-lock, --watch, --jobs-per-host)

Where:
  --stack NAME    the deployed stack (default ${DEFAULT_STACK}); its outputs name the rest
  --region REGION AWS region of the stack (default: the SDK's, e.g. AWS_REGION)
  --local DIR     local mode's kept work dir (npm start -- --work-dir DIR) instead of AWS

Start options (a file, flags, or both; flags win):
  --input FILE                 the execution input as JSON (the console's input)
  --target-version V  --artifact-url URL  --artifact-sha256 HEX  --profile NAME
  --instance-ids ID,ID...      --tag KEY=VALUE (repeatable)
  --batch-size N  --canary N  --wave-size N  --failure-threshold N  --bake-seconds N
  --fleet NAME  --dry-run  --lock-ttl-seconds N  --break-lock ROLLOUT
  --rollout-id ID              the execution name (default r-<UTC time>-<hex>)
  --watch                      AWS: follow the rollout until it ends
  --jobs-per-host N            local mode: jobs kept running on every host (default 3)
  Local mode runs the rollout to its end in this process, on the fleet's own build of
  the target version, in fleet "local"; hosts are named by instanceIds.

Exit status: 0 ok (start/watch: the rollout succeeded, or AWS start: started);
1 the rollout did not succeed, cleanup failed on a host, unlock refused, approve or
reject refused (the rollout waits for no approval, or its execution ended), AWS error;
2 bad command line or execution input (nothing started); 3 not found (stack, stack
output, rollout, work dir); 4 no AWS credentials or access denied; 130 interrupted.
`;

const OPTIONS = {
  stack: { type: "string" },
  region: { type: "string" },
  local: { type: "string" },
  help: { type: "boolean", short: "h" },
  input: { type: "string" },
  "target-version": { type: "string" },
  "artifact-url": { type: "string" },
  "artifact-sha256": { type: "string" },
  profile: { type: "string" },
  "instance-ids": { type: "string" },
  tag: { type: "string", multiple: true },
  "batch-size": { type: "string" },
  canary: { type: "string" },
  "wave-size": { type: "string" },
  "failure-threshold": { type: "string" },
  "bake-seconds": { type: "string" },
  fleet: { type: "string" },
  "dry-run": { type: "boolean" },
  "lock-ttl-seconds": { type: "string" },
  "break-lock": { type: "string" },
  "rollout-id": { type: "string" },
  watch: { type: "boolean" },
  "jobs-per-host": { type: "string" },
  "interval-ms": { type: "string" },
  limit: { type: "string" },
  html: { type: "string" },
  now: { type: "boolean" },
  reason: { type: "string" },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL: readonly OptionName[] = ["stack", "region", "local", "help"];
const INPUT_OPTIONS: readonly OptionName[] = [
  "input",
  "target-version",
  "artifact-url",
  "artifact-sha256",
  "profile",
  "instance-ids",
  "tag",
  "batch-size",
  "canary",
  "wave-size",
  "failure-threshold",
  "bake-seconds",
  "fleet",
  "dry-run",
  "lock-ttl-seconds",
  "break-lock",
];
/** Options each command takes besides the global ones. */
const COMMAND_OPTIONS: Record<Exclude<Command["name"], "help">, readonly OptionName[]> = {
  start: [...INPUT_OPTIONS, "rollout-id", "watch", "jobs-per-host"],
  status: [],
  watch: ["interval-ms"],
  list: ["limit"],
  report: ["html"],
  cleanup: ["now"],
  unlock: [],
  approve: [],
  reject: ["reason"],
  rollback: ["rollout-id", "dry-run", "break-lock", "watch", "jobs-per-host"],
};
/** Positional arguments each command takes: [min, max]. */
const POSITIONALS: Record<Exclude<Command["name"], "help">, readonly [number, number, string]> = {
  start: [0, 0, ""],
  status: [0, 1, "[ROLLOUT]"],
  watch: [0, 1, "[ROLLOUT]"],
  list: [0, 0, ""],
  report: [1, 1, "ROLLOUT"],
  cleanup: [0, 0, ""],
  unlock: [1, 1, "FLEET|HOST"],
  approve: [1, 1, "ROLLOUT"],
  reject: [1, 1, "ROLLOUT [--reason TEXT]"],
  rollback: [1, 1, "ROLLOUT"],
};

function wholeNumber(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) {
    throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** SendTaskFailure takes a cause of up to 32,768 characters. */
function rejectReason(reason: string): string {
  if (reason.trim() === "") throw new UsageError("--reason must say why");
  if (reason.length > 32_768) {
    throw new UsageError(`--reason must be at most 32768 characters, got ${reason.length}`);
  }
  return reason;
}

/** Parses `argv` (without node and the script). */
export function parseCommandLine(argv: readonly string[]): { command: Command; target: Target } {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [name, ...rest] = positionals;
  if (values.stack !== undefined && values.local !== undefined) {
    throw new UsageError("--stack and --local name two places: give one");
  }
  if (values.region !== undefined && values.local !== undefined) {
    throw new UsageError("--region is for a deployed stack, not with --local");
  }
  const target: Target =
    values.local !== undefined
      ? { kind: "local", dir: values.local }
      : {
          kind: "aws",
          stack: values.stack ?? DEFAULT_STACK,
          ...(values.region === undefined ? {} : { region: values.region }),
        };
  if (values.help || name === undefined || name === "help")
    return { command: { name: "help" }, target };
  if (!(name in COMMAND_OPTIONS)) {
    throw new UsageError(
      `unknown command "${name}" (expected ${Object.keys(COMMAND_OPTIONS).join(", ")})`,
    );
  }
  const commandName = name as keyof typeof COMMAND_OPTIONS;
  const allowed = new Set([...GLOBAL, ...COMMAND_OPTIONS[commandName]]);
  for (const option of Object.keys(values)) {
    if (!allowed.has(option as OptionName)) {
      throw new UsageError(`${commandName} does not take --${option}`);
    }
  }
  const [min, max, shape] = POSITIONALS[commandName];
  if (rest.length < min || rest.length > max) {
    throw new UsageError(
      shape === "" ? `${commandName} takes no arguments` : `usage: ${commandName} ${shape}`,
    );
  }
  const arg = rest[0];
  switch (commandName) {
    case "start": {
      const flags: InputFlags = Object.fromEntries(
        INPUT_OPTIONS.filter((o) => values[o] !== undefined).map((o) => [o, values[o]]),
      );
      if (values.watch && target.kind === "local") {
        throw new UsageError(
          "--watch is for a deployed stack: local mode runs the rollout to its end",
        );
      }
      return {
        command: {
          name: "start",
          flags,
          ...(values["rollout-id"] === undefined ? {} : { rolloutId: values["rollout-id"] }),
          watch: values.watch ?? false,
          jobsPerHost: wholeNumber("jobs-per-host", values["jobs-per-host"], 0, 200) ?? 3,
        },
        target,
      };
    }
    case "status":
      return {
        command: { name: "status", ...(arg === undefined ? {} : { rolloutId: arg }) },
        target,
      };
    case "watch": {
      const intervalMs = wholeNumber("interval-ms", values["interval-ms"], 100, 600_000);
      return {
        command: {
          name: "watch",
          ...(arg === undefined ? {} : { rolloutId: arg }),
          ...(intervalMs === undefined ? {} : { intervalMs }),
        },
        target,
      };
    }
    case "list":
      return {
        command: { name: "list", limit: wholeNumber("limit", values.limit, 1, 1000) ?? 20 },
        target,
      };
    case "report":
      if (values.html === undefined) throw new UsageError("report needs --html FILE");
      return { command: { name: "report", rolloutId: arg as string, html: values.html }, target };
    case "cleanup":
      if (!values.now) {
        throw new UsageError("cleanup runs the nightly cleanup now: say so with --now");
      }
      return { command: { name: "cleanup" }, target };
    case "unlock":
      return { command: { name: "unlock", target: arg as string }, target };
    case "approve":
      return { command: { name: "approve", rolloutId: arg as string }, target };
    case "reject":
      return {
        command: {
          name: "reject",
          rolloutId: arg as string,
          ...(values.reason === undefined ? {} : { reason: rejectReason(values.reason) }),
        },
        target,
      };
    case "rollback":
      if (values.watch && target.kind === "local") {
        throw new UsageError(
          "--watch is for a deployed stack: local mode runs the rollback to its end",
        );
      }
      return {
        command: {
          name: "rollback",
          target: arg as string,
          ...(values["rollout-id"] === undefined ? {} : { rolloutId: values["rollout-id"] }),
          dryRun: values["dry-run"] ?? false,
          ...(values["break-lock"] === undefined ? {} : { breakLock: values["break-lock"] }),
          watch: values.watch ?? false,
          jobsPerHost: wholeNumber("jobs-per-host", values["jobs-per-host"], 0, 200) ?? 3,
        },
        target,
      };
  }
}
