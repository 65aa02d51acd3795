/**
 * The SSM agent of every simulated host: delivers invocations (or lets them wait or
 * fail with the host's reachability), runs their steps as processes, stores their
 * output, reports results (held back while the host is unreachable), and moves
 * invocations through their statuses: Pending, InProgress, Cancelling, then Success,
 * Failed, TimedOut or Cancelled.
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import {
  type CommandRecord,
  type InvocationRecord,
  invocationCode,
  type PluginStatus,
  type StepRecord,
  TERMINAL,
} from "./commands.js";
import {
  type ParameterValues,
  parameterEnvironment,
  preconditionHolds,
  renderScript,
  stepTimeoutSeconds,
  workingDirectory,
} from "./documents.js";
import type { HostRecord } from "./instances.js";
import { StepProcess, type StepProcessResult } from "./process.js";
import { outputKey, outputUrl, putObject } from "./s3.js";
import type { InvocationStatus, LocalSsmOptions, SsmDocumentContent } from "./types.js";

/** Where and how the agent runs steps. */
export interface AgentOptions {
  readonly region: string;
  /** Directory standing for S3 (see `LocalSsmOptions.outputDir`), resolved. */
  readonly outputDir: string;
  /** Root of the agent's orchestration directories (one `_script.sh` per step). */
  readonly workDir: string;
  readonly env?: LocalSsmOptions["env"];
  readonly stepTimeoutCapSeconds?: number;
  readonly log?: LocalSsmOptions["log"];
}

function stepOutcome(
  result: StepProcessResult,
): Pick<StepRecord, "status" | "statusDetails" | "responseCode"> {
  if (result.timedOut) {
    return {
      status: "TimedOut",
      statusDetails: "ExecutionTimedOut",
      responseCode: result.exitCode,
    };
  }
  if (result.cancelled) {
    return { status: "Cancelled", statusDetails: "Cancelled", responseCode: result.exitCode };
  }
  if (result.exitCode === 0) {
    return { status: "Success", statusDetails: "Success", responseCode: 0 };
  }
  return { status: "Failed", statusDetails: "Failed", responseCode: result.exitCode };
}

function aggregate(steps: readonly StepRecord[]): [InvocationStatus, string] {
  if (steps.some((s) => s.status === "Cancelled")) return ["Cancelled", "Cancelled"];
  if (steps.some((s) => s.status === "TimedOut")) return ["TimedOut", "ExecutionTimedOut"];
  if (steps.some((s) => s.status === "Failed")) return ["Failed", "Failed"];
  return ["Success", "Success"];
}

/** The simulated agents, sharing one set of options. */
export class SimulatedAgent {
  /** Set by {@link stop}: nothing new is delivered, run or uploaded. */
  stopped = false;

  constructor(private readonly options: AgentOptions) {}

  /** A step's execution timeout as the agent computes it, capped by `stepTimeoutCapSeconds`. */
  executionTimeoutSeconds(
    step: SsmDocumentContent["mainSteps"][number],
    doc: SsmDocumentContent,
    values: ParameterValues,
  ): number {
    const seconds = stepTimeoutSeconds(step, doc, values);
    const cap = this.options.stepTimeoutCapSeconds;
    return cap === undefined ? seconds : Math.min(seconds, cap);
  }

  /** Hands a new command's invocations to their hosts, after the SendCommand response, as with SSM: the caller first sees Pending. */
  accept(command: CommandRecord): void {
    setImmediate(() => {
      for (const inv of command.invocations) {
        this.dispatch(inv);
      }
    });
  }

  /** Reacts to a host's new reachability: deliver what waited and report the backlog, or fail what is pending. */
  hostChanged(host: HostRecord, invocations: readonly InvocationRecord[]): void {
    if (this.stopped) return;
    for (const inv of invocations) {
      if (inv.host !== host || TERMINAL.has(inv.status)) continue;
      if (host.state === "online") {
        if (inv.status === "Pending") this.deliver(inv);
        for (const update of inv.backlog.splice(0)) {
          update();
        }
        if (inv.backlog.length === 0) {
          clearTimeout(inv.expiryTimer);
          inv.expiryTimer = undefined;
        }
      } else if (host.state === "undeliverable" && inv.status === "Pending") {
        this.terminate(inv, "Failed", "Undeliverable");
      }
    }
  }

  /** CancelCommand for one invocation: ends it at once if nothing visible can change, else Cancelling until its process dies. */
  cancel(inv: InvocationRecord): void {
    if (TERMINAL.has(inv.status)) return;
    if (inv.status === "Pending" || inv.backlog.length > 0) {
      // Nothing the service could still show will change: end it now, and leave no process behind.
      inv.cancelRequested = true;
      inv.running?.cancel();
      this.terminate(inv, "Cancelled", "Cancelled");
      return;
    }
    inv.cancelRequested = true;
    inv.status = "Cancelling";
    inv.statusDetails = "Cancelling";
    inv.running?.cancel();
  }

  /** Clears every timer, kills every running process group and waits for the steps to be over. */
  async stop(invocations: readonly InvocationRecord[]): Promise<void> {
    this.stopped = true;
    for (const inv of invocations) {
      clearTimeout(inv.deliveryTimer);
      clearTimeout(inv.expiryTimer);
      if (inv.running) {
        inv.cancelRequested = true;
        inv.running.cancel();
      }
    }
    await Promise.allSettled(invocations.map((inv) => inv.execution));
  }

  private dispatch(inv: InvocationRecord): void {
    if (this.stopped || inv.status !== "Pending") return;
    switch (inv.host.state) {
      case "online":
        this.deliver(inv);
        return;
      case "undeliverable":
        this.terminate(inv, "Failed", "Undeliverable");
        return;
      case "offline": {
        const wait = Math.max(
          0,
          inv.command.requestedAt + inv.command.deliveryTimeoutMs - Date.now(),
        );
        inv.deliveryTimer = setTimeout(() => {
          if (inv.status === "Pending") this.terminate(inv, "TimedOut", "DeliveryTimedOut");
        }, wait);
        return;
      }
    }
  }

  private deliver(inv: InvocationRecord): void {
    clearTimeout(inv.deliveryTimer);
    inv.status = "InProgress";
    inv.statusDetails = "InProgress";
    inv.startedAt = Date.now();
    this.log(
      `start ${inv.command.commandId} ${inv.command.documentName} on ${inv.host.instanceId}`,
    );
    inv.execution = this.execute(inv).catch((error: unknown) => {
      this.log(`error ${inv.command.commandId} on ${inv.host.instanceId}: ${String(error)}`);
      this.report(inv, () => this.finish(inv, "Failed", "Failed"));
    });
  }

  /** Ends an invocation that never ran (or whose results will never be reported). */
  private terminate(inv: InvocationRecord, status: InvocationStatus, details: string): void {
    clearTimeout(inv.deliveryTimer);
    clearTimeout(inv.expiryTimer);
    inv.backlog.length = 0;
    const pluginStatus: PluginStatus =
      status === "Cancelling" || status === "Delayed" ? "Pending" : (status as PluginStatus);
    for (const step of inv.steps) {
      if (step.status === "Pending" || step.status === "InProgress") {
        step.status = pluginStatus;
        step.statusDetails = details;
      }
    }
    this.finish(inv, status, details);
  }

  private finish(inv: InvocationRecord, status: InvocationStatus, details: string): void {
    if (TERMINAL.has(inv.status)) return;
    inv.status = status;
    inv.statusDetails = details;
    inv.endedAt = Date.now();
    clearTimeout(inv.deliveryTimer);
    clearTimeout(inv.expiryTimer);
    const code = invocationCode(inv);
    const took = inv.startedAt === undefined ? "" : `, ${inv.endedAt - inv.startedAt} ms`;
    this.log(
      `end ${inv.command.commandId} ${inv.command.documentName} on ${inv.host.instanceId}: ${status}/${details} (code ${code}${took})`,
    );
  }

  /**
   * Applies a result the agent sends back. While the host is unreachable the agent
   * cannot report, so results wait (the invocation stays InProgress) until the host
   * returns or the command expires (DeliveryTimedOut), as with SSM.
   */
  private report(inv: InvocationRecord, update: () => void): void {
    const apply = () => {
      if (!TERMINAL.has(inv.status)) update();
    };
    if (inv.host.state === "online" && inv.backlog.length === 0) {
      apply();
      return;
    }
    inv.backlog.push(apply);
    if (inv.expiryTimer === undefined) {
      inv.expiryTimer = setTimeout(
        () => this.terminate(inv, "TimedOut", "DeliveryTimedOut"),
        Math.max(0, inv.command.expiresAt - Date.now()),
      );
    }
  }

  private async execute(inv: InvocationRecord): Promise<void> {
    const { doc } = inv.command;
    for (const [index, step] of doc.mainSteps.entries()) {
      const record = inv.steps[index] as StepRecord;
      if (inv.cancelRequested || this.stopped) {
        this.report(inv, () => {
          record.status = "Cancelled";
          record.statusDetails = "Cancelled";
        });
        continue;
      }
      if (!preconditionHolds(step)) {
        const now = Date.now();
        this.report(inv, () => {
          Object.assign(record, {
            status: "Success",
            statusDetails: "Skipped",
            responseCode: 0,
            startedAt: now,
            endedAt: now,
            stdout: `Step execution skipped due to unsatisfied preconditions: '"StringEquals": ${JSON.stringify(
              (step.precondition as { StringEquals: unknown }).StringEquals,
            )}'. Step name: ${step.name}`,
          });
        });
        continue;
      }
      const result = await this.runStep(inv, index);
      const outcome = stepOutcome(result);
      const urls = await this.storeOutput(inv, step.name, result);
      this.report(inv, () => {
        Object.assign(record, {
          ...outcome,
          startedAt: result.startedAt,
          endedAt: result.endedAt,
          stdout: result.stdout,
          stderr: result.stderr,
          ...urls,
        });
      });
      if (outcome.status === "Cancelled") inv.cancelRequested = true;
    }
    this.report(inv, () => {
      const [status, details] = aggregate(inv.steps);
      this.finish(inv, status, details);
    });
  }

  /** Runs one step as the agent would: `_script.sh` in the step's orchestration directory. */
  private async runStep(inv: InvocationRecord, index: number): Promise<StepProcessResult> {
    const { command, host } = inv;
    const { doc, values } = command;
    const step = doc.mainSteps[index] as (typeof doc.mainSteps)[number];
    const record = inv.steps[index] as StepRecord;
    const orchestration = join(
      this.options.workDir,
      host.instanceId,
      "document",
      "orchestration",
      command.commandId,
      "awsrunShellScript",
      step.name,
    );
    await mkdir(orchestration, { recursive: true });
    const scriptPath = join(orchestration, "_script.sh");
    await writeFile(scriptPath, renderScript(step, doc, values), { mode: 0o700 });

    const startedAt = Date.now();
    // A workingDirectory is a path on the host, so on a simulated host it lives under the host root.
    const dir = workingDirectory(step, doc, values);
    const cwd =
      dir === undefined
        ? orchestration
        : isAbsolute(dir)
          ? join(host.hostRoot, dir)
          : resolve(orchestration, dir);
    const usable = await stat(cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!usable) {
      return {
        exitCode: 1,
        timedOut: false,
        cancelled: false,
        stdout: "",
        stderr: `Invalid workingDirectory ${dir}, the directory doesn't exist.\nfailed to run commands: exit status 1`,
        startedAt,
        endedAt: Date.now(),
      };
    }

    const env: NodeJS.ProcessEnv = {};
    if (process.env.PATH !== undefined) env.PATH = process.env.PATH;
    if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
    Object.assign(env, this.options.env, {
      AWS_SSM_INSTANCE_ID: host.instanceId,
      AWS_SSM_REGION_NAME: this.options.region,
      AR_HOST_ROOT: host.hostRoot,
      ...parameterEnvironment(doc, values),
    });

    this.report(inv, () => {
      record.status = "InProgress";
      record.statusDetails = "InProgress";
      record.startedAt = startedAt;
    });
    const proc = new StepProcess({
      scriptPath,
      cwd,
      env,
      timeoutMs: this.executionTimeoutSeconds(step, doc, values) * 1000,
    });
    inv.running = proc;
    // A cancel may have arrived while the script was being written.
    if (inv.cancelRequested || this.stopped) proc.cancel();
    try {
      return await proc.done;
    } finally {
      inv.running = undefined;
    }
  }

  /** Uploads a step's full stdout/stderr when the command named an output bucket. */
  private async storeOutput(
    inv: InvocationRecord,
    stepName: string,
    result: StepProcessResult,
  ): Promise<Pick<StepRecord, "stdoutUrl" | "stderrUrl">> {
    const { command, host } = inv;
    if (command.outputBucket === "" || this.stopped) return { stdoutUrl: "", stderrUrl: "" };
    const urls = { stdoutUrl: "", stderrUrl: "" };
    for (const stream of ["stdout", "stderr"] as const) {
      const key = outputKey(
        command.outputPrefix,
        command.commandId,
        host.instanceId,
        stepName,
        stream,
      );
      await putObject(this.options.outputDir, command.outputBucket, key, result[stream]);
      urls[stream === "stdout" ? "stdoutUrl" : "stderrUrl"] = outputUrl(
        this.options.region,
        command.outputBucket,
        key,
      );
    }
    return urls;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}
