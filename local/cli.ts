#!/usr/bin/env node
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeLocalRunReport } from "../cli/commands/report.js";
import { approveAll, neverAnswer, terminalApprover } from "./approval.js";
import { type CleanupReport, runCleanup } from "./cleanup.js";
import { startEnvironment } from "./environment.js";
import { createFleet, type Fault, type FleetHost, fleetExists, parseFault } from "./fleet.js";
import {
  exitStatus,
  formatCleanup,
  formatMetrics,
  formatProgress,
  formatSummary,
  jobProblems,
} from "./format.js";
import { loadKit } from "./kit.js";
import { readLockOwner } from "./ledger-view.js";
import { stopFleetProcesses } from "./processes.js";
import { type RolloutReport, runRollout, writeReport } from "./runner.js";
import { waitForRunningCommands } from "./shutdown.js";
import { UsageError } from "./usage-error.js";
import { checkWritable, lockWorkDir, WorkDirError } from "./work-dir.js";

// Local mode runs on Node 20 while the deployed functions run on Lambda's Node 22:
// the SDK's notice about its future Node 20 support is not this tool's to print.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const HELP = `agent-rollout local mode: a real rolling upgrade of a local fleet, offline.

Usage:
  npm start -- [run] [options]          roll the local fleet to a new version
  npm start -- cleanup --work-dir DIR   run the nightly cleanup against a kept fleet

Options (run):
  --hosts N              hosts in the fleet (default 5, max 50)
  --batch-size N         hosts upgraded at once within a wave (default 1)
  --canary N             hosts in the first wave (default 1; 0 = no canary wave)
  --failure-threshold N  host failures tolerated before the rollout halts (default 0)
  --wave-size N          hosts per wave after the canary (default 100)
  --bake-seconds N       pause after each wave (the last one too), then check again that its
                         upgraded hosts still serve before going on (default 0)
  --agent NAME|DIR       the agent kit: a kit of this repository (demo, controlm-like, fta-like)
                         or a directory holding your own kit.json (default demo)
  --profile FILE         deploy this profile instead of the kit's and roll out with it
  --from VERSION         version installed on the fleet first (default 1.0.0)
  --to VERSION           version to roll out (default 2.0.0)
  --jobs-per-host N      jobs kept running on every host during the rollout (default 3)
  --fault KIND[:HOSTS]   inject a fault; repeatable. HOSTS: comma list of host numbers (1-based)
                           bad-release          the new release fails its health check everywhere
                           bad-release:HOSTS    ...only on these hosts
                           host-offline:HOSTS   these hosts' SSM agent is unreachable
                           undeliverable:HOSTS  SSM cannot deliver commands to these hosts
                           hang:HOSTS           starting the new release's listener hangs on these
                                                hosts: the switch stalls after flipping the link
                           alarm:N              the rollout's CloudWatch alarms (the input's
                                                alarms, else local-fault-alarm, added to the
                                                input) go to ALARM once N hosts have finished
                           listener-dies:HOSTS  the listener of these hosts is killed right after
                                                their switch: the wave's verification finds them
                                                not serving, fails and rolls them back
                           listener-dies-in-bake:HOSTS  ...killed once their wave passed its
                                                verification and bakes (with --bake-seconds): the
                                                verification after the bake catches it
  --step-timeout SECONDS cap every SSM step's execution timeout at SECONDS (the documents say
                         600-1800 s); a hung switch is then killed mid-cutover as SSM would, the
                         host fails and the next run repairs it. Without it, the profile's hook
                         timeout ends a hung hook and the switch rolls back by itself
  --approve-all          answer every approval of the input's approval gate with approve
                         (without it: asked on the terminal; with no terminal, the wait
                         runs to its timeout)
  --input FILE           run this execution input (JSON, as pasted in the Step Functions console)
                         instead of one built from the options above; "artifact": "fleet" stands
                         for the local fleet's own artifact of its targetVersion; local hosts are
                         mi-00000000000000001, mi-00000000000000002, ...; {"rollback": "<rolloutId>"}
                         rolls back a rollout of the kept fleet of --work-dir
  --work-dir DIR         keep fleet, ledger and logs in DIR (default: a temporary directory,
                         removed at the end); a DIR that already holds a fleet is reused
  --break-lock           take over the fleet lock a killed run left (its owner is read from the
                         ledger of --work-dir); refused while that owner's execution still runs
  --report FILE          write the JSON report to FILE
  --report-html FILE     write the HTML report (per-host timeline) to FILE
  --quiet                print only the summary
  --help                 show this help

Exit status: 0 if the rollout succeeded and no job was lost, no submission failed and no
status update was lost; 1 otherwise (or when the work dir cannot be used); 2 for bad
options; 130 after Ctrl-C.
`;

function positiveInt(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
) {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new UsageError(`--${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new UsageError(`--${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function version(name: string, raw: string | undefined, fallback: string) {
  const value = raw ?? fallback;
  if (!/^[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$/.test(value)) {
    throw new UsageError(`--${name} must be a version like 2.0.0, got "${value}"`);
  }
  return value;
}

/** Options an `--input` file replaces: it is the whole execution input. */
const INPUT_REPLACES = [
  "batch-size",
  "canary",
  "failure-threshold",
  "wave-size",
  "bake-seconds",
  "to",
] as const;

/** Reads `--input FILE`: a JSON object, used as the execution input. */
async function readInput(
  file: string,
  values: Partial<Record<(typeof INPUT_REPLACES)[number], unknown>>,
): Promise<Record<string, unknown>> {
  const clash = INPUT_REPLACES.find((name) => values[name] !== undefined);
  if (clash) throw new UsageError(`--input FILE is the whole execution input: drop --${clash}`);
  let input: unknown;
  try {
    input = JSON.parse(await readFile(resolve(file), "utf8"));
  } catch (error) {
    throw new UsageError(`--input ${file}: ${(error as Error).message}`);
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new UsageError(`--input ${file}: the execution input must be a JSON object`);
  }
  const { targetVersion, rollback } = input as Record<string, unknown>;
  // A whole-rollout rollback names the rollout; its fleet is the one that rollout left.
  if (rollback !== undefined) return input as Record<string, unknown>;
  if (typeof targetVersion !== "string") {
    throw new UsageError(`--input ${file}: targetVersion is required (the fleet is built for it)`);
  }
  return input as Record<string, unknown>;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      hosts: { type: "string" },
      "batch-size": { type: "string" },
      canary: { type: "string" },
      "failure-threshold": { type: "string" },
      "wave-size": { type: "string" },
      "bake-seconds": { type: "string" },
      agent: { type: "string" },
      profile: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      "jobs-per-host": { type: "string" },
      fault: { type: "string", multiple: true },
      "step-timeout": { type: "string" },
      input: { type: "string" },
      "approve-all": { type: "boolean" },
      "work-dir": { type: "string" },
      report: { type: "string" },
      "report-html": { type: "string" },
      "break-lock": { type: "boolean" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const command = positionals[0] ?? "run";
  if (positionals.length > 1 || !["run", "cleanup"].includes(command)) {
    throw new UsageError(`unknown command "${positionals.join(" ")}" (expected run or cleanup)`);
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);

  if (command === "cleanup") {
    const workDir = values["work-dir"];
    if (!workDir) throw new UsageError("cleanup needs --work-dir DIR (the directory a run kept)");
    if (!fleetExists(workDir))
      throw new UsageError(`no local fleet in ${workDir} (run with --work-dir first)`);
    const unlockWorkDir = lockWorkDir(resolve(workDir));
    const env = await startEnvironment({ workDir }).catch((error: unknown) => {
      unlockWorkDir();
      throw error;
    });
    let report: CleanupReport;
    try {
      report = await runCleanup(env);
    } finally {
      await env.close();
      unlockWorkDir();
    }
    say(formatCleanup(report));
    say("");
    say(formatMetrics(report.metrics));
    if (values.report) await writeReport(resolve(values.report), report);
    return report.failed.length === 0 ? 0 : 1;
  }

  const hosts = positiveInt("hosts", values.hosts, 5, 1, 50);
  const batchSize = positiveInt("batch-size", values["batch-size"], 1, 1, 1000);
  const canary = positiveInt("canary", values.canary, 1, 0, 100);
  const failureThreshold = positiveInt(
    "failure-threshold",
    values["failure-threshold"],
    0,
    0,
    10_000,
  );
  const waveSize = values["wave-size"]
    ? positiveInt("wave-size", values["wave-size"], 100, 1, 1000)
    : undefined;
  const bakeSeconds = positiveInt("bake-seconds", values["bake-seconds"], 0, 0, 3600);
  const jobsPerHost = positiveInt("jobs-per-host", values["jobs-per-host"], 3, 0, 200);
  const consoleInput = values.input ? await readInput(values.input, values) : undefined;
  const from = version("from", values.from, "1.0.0");
  const rollbackOf = consoleInput?.rollback;
  if (
    rollbackOf !== undefined &&
    (values["work-dir"] === undefined || !fleetExists(resolve(values["work-dir"])))
  ) {
    throw new UsageError(
      "a rollback input rolls back a rollout of a kept fleet: give the --work-dir that rollout ran in",
    );
  }
  const to =
    rollbackOf !== undefined
      ? undefined
      : consoleInput
        ? version("input targetVersion", consoleInput.targetVersion as string, "")
        : version("to", values.to, "2.0.0");
  if (from === to) throw new UsageError(`--from and --to are both ${from}: nothing to roll out`);
  const faults: Fault[] = (values.fault ?? []).map((raw) => parseFault(raw, hosts));
  const stepTimeoutCapSeconds = values["step-timeout"]
    ? positiveInt("step-timeout", values["step-timeout"], 0, 1, 3600)
    : undefined;
  const profileFile = values.profile ? resolve(values.profile) : undefined;
  if (profileFile && !existsSync(profileFile))
    throw new UsageError(`--profile ${values.profile}: no such file`);

  const kit = loadKit(values.agent ?? "demo");
  const keep = values["work-dir"] !== undefined;
  if (values["work-dir"]?.trim() === "") throw new UsageError("--work-dir needs a directory");
  // Nothing is started or changed before the directories are known to be usable.
  checkWritable(tmpdir());
  if (keep) checkWritable(resolve(values["work-dir"] as string));
  const workDir = keep
    ? resolve(values["work-dir"] as string)
    : await mkdtemp(join(tmpdir(), "agent-rollout-"));
  await mkdir(workDir, { recursive: true });
  const unlockWorkDir = lockWorkDir(workDir);
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) {
      say("\nforced: stopping every process of the fleet now");
      void stopFleetProcesses(join(workDir, "fleet"), 200).finally(() => process.exit(130));
      return;
    }
    say(
      "\ninterrupted: no new host will start; waiting for running commands and jobs (Ctrl-C again to force)",
    );
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let report: RolloutReport | undefined;
  try {
    const reused = fleetExists(workDir);
    if (!reused) {
      say(`Creating a fleet of ${hosts} ${kit.name} hosts on ${from} in ${workDir}`);
      await createFleet(workDir, {
        kit: kit.dir,
        hosts,
        fromVersion: from,
        versions: [from, to ?? from],
        faults,
      });
    } else {
      say(`Reusing the fleet in ${workDir}`);
    }
    const env = await startEnvironment({ workDir, profileFile, stepTimeoutCapSeconds });
    try {
      // A kept fleet's agents were stopped when the run that used it last ended.
      if (reused) await env.fleet.boot();
      say(
        to === undefined
          ? `Rolling back rollout ${String(rollbackOf)} (kit ${env.fleet.kit?.name ?? "none"}, profile ${env.profile}, its waves and thresholds, ${jobsPerHost} jobs per host)`
          : `Rolling out ${to} (kit ${env.fleet.kit?.name ?? "none"}, profile ${env.profile}, batch ${batchSize}, canary ${canary}, threshold ${failureThreshold}, ${jobsPerHost} jobs per host)`,
      );
      report = await runRollout(env, {
        targetVersion: to ?? from,
        batchSize,
        canary,
        failureThreshold,
        waveSize,
        bakeSeconds,
        jobsPerHost,
        ...(consoleInput ? { input: consoleInput } : {}),
        ...(values["break-lock"] ? await lockToBreak(env, consoleInput?.fleet) : {}),
        ...alarmFaultOptions(faults, say),
        ...listenerFaultOptions(faults, env.fleet.hosts, say),
        approver: values["approve-all"]
          ? approveAll
          : process.stdin.isTTY
            ? terminalApprover(process.stdin, process.stdout)
            : neverAnswer,
        signal: abort.signal,
        onHostChange: values.quiet
          ? undefined
          : (host, ms) => say(formatProgress(host, ms, env.fleet)),
      });
      const html = values["report-html"];
      if (html) await writeLocalRunReport(env, report, resolve(html));
    } finally {
      if (abort.signal.aborted) {
        const left = await waitForRunningCommands(env.ssm, 60_000);
        if (left > 0) say(`${left} host command(s) still running were stopped`);
      }
      await env.close();
    }
    say("");
    say(formatSummary(report));
    say("");
    say(formatMetrics(report.metrics));
    if (values.report) await writeReport(resolve(values.report), report);
    explainOutcome(report, values["break-lock"] === true, say);
  } finally {
    await stopFleetProcesses(join(workDir, "fleet"));
    unlockWorkDir();
    if (!keep) await rm(workDir, { recursive: true, force: true });
    else say(`Fleet, ledger and logs kept in ${workDir}`);
  }
  if (abort.signal.aborted) return 130;
  return report === undefined ? 1 : exitStatus(report);
}

/** `breakLock` for `--break-lock`: the owner of the local fleet's lock, read from the ledger. */
async function lockToBreak(env: { ledger: Parameters<typeof readLockOwner>[0] }, fleet: unknown) {
  const name = typeof fleet === "string" ? fleet : "local";
  const owner = await readLockOwner(env.ledger, name);
  if (owner === undefined) throw new UsageError(`--break-lock: fleet "${name}" is not locked`);
  return { breakLock: owner };
}

/** After the summary: how to go on from a lock left behind, and why the jobs fail the run. */
function explainOutcome(
  report: RolloutReport,
  breakLock: boolean,
  say: (line: string) => void,
): void {
  if (report.error?.includes("FleetLockedError") && !breakLock)
    say(
      "The fleet is locked by another rollout: wait for it, or, if the CLI that ran it was " +
        "killed, run again with --break-lock (refused while that rollout still runs).",
    );
  const problems = jobProblems(report.jobs);
  if (problems.length > 0) say(`Exit status 1: ${problems.join(", ")}.`);
}

/**
 * `--fault listener-dies:HOSTS` (or `listener-dies-in-bake:HOSTS`, then for every
 * such host) as {@link runRollout} options (host numbers are 1-based).
 */
function listenerFaultOptions(
  faults: readonly Fault[],
  fleetHosts: readonly FleetHost[],
  tell: (line: string) => void,
) {
  const chosen = faults.filter(
    (f) => f.kind === "listener-dies" || f.kind === "listener-dies-in-bake",
  );
  const numbers = chosen.flatMap((f) => f.hosts ?? []);
  if (numbers.length === 0) return {};
  const inBake = chosen.some((f) => f.kind === "listener-dies-in-bake");
  return {
    listenerDiesOn: numbers.flatMap((n) => fleetHosts[n - 1]?.instanceId ?? []),
    listenerDiesWhen: inBake ? ("bake" as const) : ("switch" as const),
    onListenerFault: (host: FleetHost, pids: readonly number[]) =>
      tell(
        `fault: killed the listener of ${host.computerName} ${inBake ? "in its wave's bake" : "after its switch"} (pid ${pids.join(", ") || "none found"})`,
      ),
  };
}

/** `--fault alarm:N` as {@link runRollout} options (the last one given wins). */
function alarmFaultOptions(faults: readonly Fault[], tell: (line: string) => void) {
  const after = faults.filter((f) => f.kind === "alarm").at(-1)?.afterHosts;
  if (after === undefined) return {};
  return {
    alarmAfterHosts: after,
    onAlarmFault: (alarms: readonly string[]) =>
      tell(`fault: alarm ${alarms.join(", ")} set to ALARM after ${after} host(s) finished`),
  };
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      process.stderr.write(
        `agent-rollout: ${(error as Error).message}\nTry: npm start -- --help\n`,
      );
      process.exit(2);
    }
    if (error instanceof WorkDirError) {
      process.stderr.write(`agent-rollout: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(
      `agent-rollout: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
