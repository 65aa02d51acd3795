/**
 * The local SSM endpoint: an HTTP server speaking the AWS JSON 1.1 protocol for the
 * Run Command subset agent-rollout uses, plus path-style S3 reads of command output.
 * Commands really run, as bash process groups, on simulated hosts that are plain
 * directories (`AR_HOST_ROOT`).
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import {
  type ParameterValues,
  PLATFORM_TYPE,
  parameterEnvironment,
  preconditionHolds,
  renderScript,
  resolveParameters,
  stepTimeoutSeconds,
  validateDocument,
  workingDirectory,
} from "./documents.js";
import { SsmApiError, validationError } from "./errors.js";
import { MAX_STDERR_CONTENT, MAX_STDOUT_CONTENT, pluginOutput, stringPrefix } from "./output.js";
import { StepProcess, type StepProcessResult } from "./process.js";
import { type Json, maxResults, optionalString, paginate, requireString } from "./protocol.js";
import { BUCKET_NAME, outputKey, outputUrl, putObject, serveObject } from "./s3.js";
import type {
  InvocationSnapshot,
  InvocationStatus,
  LocalHostState,
  LocalSsm,
  LocalSsmOptions,
  SsmDocumentContent,
} from "./types.js";

/** SendCommand TimeoutSeconds: default and bounds. */
const DEFAULT_DELIVERY_TIMEOUT_S = 3600;
const MIN_DELIVERY_TIMEOUT_S = 30;
const MAX_DELIVERY_TIMEOUT_S = 2_592_000;
/** Agent version reported; ENV_VAR interpolation needs 3.3.2746.0 or later. */
const AGENT_VERSION = "3.3.2746.0";
const INSTANCE_ID = /^(i-([0-9a-zA-Z]{8}|[0-9a-zA-Z]{17})|mi-[0-9a-zA-Z]{17})$/;
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const TERMINAL = new Set<InvocationStatus>(["Success", "Failed", "TimedOut", "Cancelled"]);

type PluginStatus = "Pending" | "InProgress" | "Success" | "TimedOut" | "Cancelled" | "Failed";

interface HostRecord {
  readonly instanceId: string;
  readonly hostRoot: string;
  readonly computerName: string;
  readonly tags: Readonly<Record<string, string>>;
  state: LocalHostState;
  /** When the agent was last heard from: now while online, the moment it left otherwise. */
  lastPingAt: number;
  readonly registeredAt: number;
}

interface StepRecord {
  readonly name: string;
  status: PluginStatus;
  statusDetails: string;
  responseCode: number;
  startedAt?: number;
  endedAt?: number;
  stdout: string;
  stderr: string;
  stdoutUrl: string;
  stderrUrl: string;
}

interface CommandRecord {
  readonly commandId: string;
  readonly documentName: string;
  readonly documentVersion: string;
  readonly doc: SsmDocumentContent;
  readonly comment: string;
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly values: ParameterValues;
  readonly instanceIds: readonly string[];
  readonly requestedAt: number;
  readonly timeoutSeconds: number;
  readonly deliveryTimeoutMs: number;
  readonly expiresAt: number;
  readonly outputBucket: string;
  readonly outputPrefix: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  cancelRequested: boolean;
  readonly invocations: InvocationRecord[];
}

interface InvocationRecord {
  readonly command: CommandRecord;
  readonly host: HostRecord;
  status: InvocationStatus;
  statusDetails: string;
  readonly steps: StepRecord[];
  startedAt?: number;
  endedAt?: number;
  running?: StepProcess;
  cancelRequested: boolean;
  deliveryTimer?: NodeJS.Timeout;
  expiryTimer?: NodeJS.Timeout;
  /** Results the agent could not report while its host was unreachable, applied when it is back. */
  readonly backlog: Array<() => void>;
  /** Settles when the steps are over (used by close()). */
  execution?: Promise<void>;
}

type Handler = (input: Json) => Promise<Json> | Json;

/** The exit code that explains an invocation: its first non-zero step code, else its last step code, else -1. */
function invocationCode(inv: InvocationRecord): number {
  const codes = inv.steps.filter((s) => s.endedAt !== undefined && s.responseCode !== -1);
  return (codes.find((s) => s.responseCode !== 0) ?? codes.at(-1))?.responseCode ?? -1;
}

function seconds(ms: number): number {
  return ms / 1000;
}

function isoOrEmpty(ms: number | undefined): string {
  return ms === undefined ? "" : new Date(ms).toISOString();
}

function elapsed(step: StepRecord): string {
  if (step.startedAt === undefined) return "";
  return `PT${seconds((step.endedAt ?? Date.now()) - step.startedAt).toFixed(3)}S`;
}

/** The allowed number of errors for a MaxErrors of "N" or "N%". */
function allowedErrors(maxErrors: string, targets: number): number {
  return maxErrors.endsWith("%")
    ? Math.floor((Number(maxErrors.slice(0, -1)) * targets) / 100)
    : Number(maxErrors);
}

/** Running state of one endpoint. */
class LocalSsmServer implements LocalSsm {
  endpoint = "";
  private readonly server: Server;
  private readonly hosts = new Map<string, HostRecord>();
  private readonly commands = new Map<string, CommandRecord>();
  private readonly allInvocations: InvocationRecord[] = [];
  private readonly calls: Record<string, number> = {};
  private readonly throttles = new Map<string, number>();
  private readonly region: string;
  private readonly outputDir: string;
  private commandCount = 0;
  private closing = false;
  private readonly handlers: Record<string, Handler>;

  constructor(
    private readonly options: LocalSsmOptions,
    private readonly workDir: string,
  ) {
    this.region = options.region ?? "us-east-1";
    this.outputDir = resolve(options.outputDir);
    const now = Date.now();
    for (const host of options.hosts) {
      this.hosts.set(host.instanceId, {
        instanceId: host.instanceId,
        hostRoot: host.hostRoot,
        computerName: host.computerName ?? host.instanceId,
        tags: { ...(host.tags ?? {}) },
        state: host.state ?? "online",
        lastPingAt: now,
        registeredAt: now,
      });
    }
    this.handlers = {
      SendCommand: (input) => this.sendCommand(input),
      GetCommandInvocation: (input) => this.getCommandInvocation(input),
      ListCommandInvocations: (input) => this.listCommandInvocations(input),
      ListCommands: (input) => this.listCommands(input),
      CancelCommand: (input) => this.cancelCommand(input),
      DescribeInstanceInformation: (input) => this.describeInstanceInformation(input),
    };
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          this.sendError(res, new SsmApiError("InternalServerError", String(error), 500));
        } else {
          res.destroy();
        }
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolveListen, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolveListen();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  // ---------------------------------------------------------------- public API

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const inv of this.allInvocations) {
      clearTimeout(inv.deliveryTimer);
      clearTimeout(inv.expiryTimer);
      if (inv.running) {
        inv.cancelRequested = true;
        inv.running.cancel();
      }
    }
    await Promise.allSettled(this.allInvocations.map((inv) => inv.execution));
    await new Promise<void>((resolveClose) => {
      this.server.close(() => resolveClose());
      // The SDK keeps sockets alive; without this close() would wait for them to time out.
      this.server.closeAllConnections();
    });
    await rm(this.workDir, { recursive: true, force: true });
  }

  setHostState(instanceId: string, state: LocalHostState): void {
    const host = this.hosts.get(instanceId);
    if (!host) throw new Error(`unknown instance ${instanceId}`);
    if (host.state === state) return;
    host.lastPingAt = Date.now();
    host.state = state;
    if (this.closing) return;
    for (const inv of this.allInvocations) {
      if (inv.host !== host || TERMINAL.has(inv.status)) continue;
      if (state === "online") {
        if (inv.status === "Pending") this.deliver(inv);
        for (const update of inv.backlog.splice(0)) {
          update();
        }
        if (inv.backlog.length === 0) {
          clearTimeout(inv.expiryTimer);
          inv.expiryTimer = undefined;
        }
      } else if (state === "undeliverable" && inv.status === "Pending") {
        this.terminate(inv, "Failed", "Undeliverable");
      }
    }
  }

  injectThrottling(operation: string, times: number): void {
    if (!Number.isInteger(times) || times < 0) {
      throw new Error(`times must be a non-negative integer, got ${times}`);
    }
    this.throttles.set(operation, (this.throttles.get(operation) ?? 0) + times);
  }

  stats(): { calls: Record<string, number>; commands: number } {
    return { calls: { ...this.calls }, commands: this.commandCount };
  }

  invocations(): InvocationSnapshot[] {
    return this.allInvocations.map((inv) => {
      return {
        commandId: inv.command.commandId,
        instanceId: inv.host.instanceId,
        documentName: inv.command.documentName,
        comment: inv.command.comment,
        parameters: inv.command.parameters,
        status: inv.status,
        statusDetails: inv.statusDetails,
        responseCode: invocationCode(inv),
        requestedAt: new Date(inv.command.requestedAt),
        ...(inv.startedAt === undefined ? {} : { startedAt: new Date(inv.startedAt) }),
        ...(inv.endedAt === undefined ? {} : { endedAt: new Date(inv.endedAt) }),
      };
    });
  }

  // ---------------------------------------------------------------- transport

  private count(operation: string): void {
    this.calls[operation] = (this.calls[operation] ?? 0) + 1;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers["x-amz-target"];
    if (req.method === "POST" && typeof target === "string") {
      await this.handleSsm(req, res, target);
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      this.count(req.method === "GET" ? "GetObject" : "HeadObject");
      await serveObject(req, res, this.outputDir);
      return;
    }
    this.sendError(res, new SsmApiError("UnknownOperationException", "Unsupported request."));
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        throw new SsmApiError("SerializationException", "Request body too large.");
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  private async handleSsm(
    req: IncomingMessage,
    res: ServerResponse,
    target: string,
  ): Promise<void> {
    const dot = target.indexOf(".");
    const service = target.slice(0, dot);
    const operation = target.slice(dot + 1);
    this.count(operation);
    try {
      const body = await this.readBody(req);
      const handler = service === "AmazonSSM" ? this.handlers[operation] : undefined;
      if (!handler) {
        throw new SsmApiError("UnknownOperationException", `Operation ${target} is not supported.`);
      }
      const pending = this.throttles.get(operation) ?? 0;
      if (pending > 0) {
        this.throttles.set(operation, pending - 1);
        throw new SsmApiError("ThrottlingException", "Rate exceeded");
      }
      let input: unknown;
      try {
        input = body.trim() === "" ? {} : JSON.parse(body);
      } catch {
        throw new SsmApiError("SerializationException", "Request body is not valid JSON.");
      }
      if (typeof input !== "object" || input === null || Array.isArray(input)) {
        throw new SsmApiError("SerializationException", "Request body must be a JSON object.");
      }
      const output = await handler(input as Json);
      const text = JSON.stringify(output);
      res.writeHead(200, {
        "content-type": "application/x-amz-json-1.1",
        "content-length": Buffer.byteLength(text),
        "x-amzn-requestid": randomUUID(),
      });
      res.end(text);
    } catch (error) {
      this.sendError(
        res,
        error instanceof SsmApiError
          ? error
          : new SsmApiError("InternalServerError", String(error), 500),
      );
    }
  }

  private sendError(res: ServerResponse, error: SsmApiError): void {
    const text = JSON.stringify({ __type: error.name, message: error.message });
    res.writeHead(error.statusCode, {
      "content-type": "application/x-amz-json-1.1",
      "content-length": Buffer.byteLength(text),
      "x-amzn-requestid": randomUUID(),
      "x-amzn-errortype": error.name,
    });
    res.end(text);
  }

  // ---------------------------------------------------------------- SendCommand

  private sendCommand(input: Json): Json {
    const documentName = requireString(input, "DocumentName");
    const doc = Object.hasOwn(this.options.documents, documentName)
      ? this.options.documents[documentName]
      : undefined;
    if (!doc) {
      throw new SsmApiError(
        "InvalidDocument",
        `Document with name ${documentName} does not exist.`,
      );
    }
    const documentVersion = optionalString(input, "DocumentVersion", 128) ?? "$DEFAULT";
    if (!["$DEFAULT", "$LATEST", "1"].includes(documentVersion)) {
      throw new SsmApiError(
        "InvalidDocumentVersion",
        `Document version ${documentVersion} does not exist.`,
      );
    }
    if (Array.isArray(input.Targets) && input.Targets.length > 0) {
      throw validationError("targets", "[...]", "the local SSM endpoint supports InstanceIds only");
    }
    const ids = input.InstanceIds;
    if (!Array.isArray(ids) || ids.length === 0) {
      throw validationError(
        "instanceIds",
        ids,
        "Member must have length greater than or equal to 1",
      );
    }
    if (ids.length > 50) {
      throw validationError(
        "instanceIds",
        `[${ids.length} ids]`,
        "Member must have length less than or equal to 50",
      );
    }
    const instanceIds: string[] = [];
    for (const id of ids) {
      if (typeof id !== "string" || !INSTANCE_ID.test(id) || !this.hosts.has(id)) {
        throw new SsmApiError("InvalidInstanceId", `Instance ${String(id)} is not a managed node.`);
      }
      if (instanceIds.includes(id)) {
        throw new SsmApiError("DuplicateInstanceId", `Instance ${id} is listed twice.`);
      }
      instanceIds.push(id);
    }
    let timeoutSeconds = DEFAULT_DELIVERY_TIMEOUT_S;
    if (input.TimeoutSeconds !== undefined && input.TimeoutSeconds !== null) {
      const t = input.TimeoutSeconds;
      if (
        typeof t !== "number" ||
        !Number.isInteger(t) ||
        t < MIN_DELIVERY_TIMEOUT_S ||
        t > MAX_DELIVERY_TIMEOUT_S
      ) {
        throw validationError(
          "timeoutSeconds",
          t,
          `Member must have value between ${MIN_DELIVERY_TIMEOUT_S} and ${MAX_DELIVERY_TIMEOUT_S}`,
        );
      }
      timeoutSeconds = t;
    }
    const comment = optionalString(input, "Comment", 100) ?? "";
    const outputBucket = optionalString(input, "OutputS3BucketName", 63) ?? "";
    if (outputBucket !== "" && !BUCKET_NAME.test(outputBucket)) {
      throw validationError(
        "outputS3BucketName",
        outputBucket,
        "Member must be a valid S3 bucket name",
      );
    }
    const outputPrefix = optionalString(input, "OutputS3KeyPrefix", 500) ?? "";
    if (outputPrefix.split("/").some((segment) => segment === "." || segment === "..")) {
      throw validationError(
        "outputS3KeyPrefix",
        outputPrefix,
        "Member must not contain relative path segments",
      );
    }
    const rate = /^([1-9][0-9]*|[0-9]|[1-9][0-9]%|[0-9]%|100%)$/;
    const maxConcurrency = optionalString(input, "MaxConcurrency", 7) ?? "50";
    const maxErrors = optionalString(input, "MaxErrors", 7) ?? "0";
    for (const [field, value] of [
      ["maxConcurrency", maxConcurrency],
      ["maxErrors", maxErrors],
    ] as const) {
      if (!rate.test(value)) {
        throw validationError(
          field,
          value,
          `Member must satisfy regular expression pattern: ${rate.source}`,
        );
      }
    }
    // Parameters last: SSM rejects bad values before anything is created, and then nothing runs.
    const values = resolveParameters(doc, input.Parameters);

    const requestedAt = Date.now();
    const deliveryTimeoutMs = this.options.deliveryTimeoutMs ?? timeoutSeconds * 1000;
    const longestStepMs =
      Math.max(...doc.mainSteps.map((s) => this.executionTimeoutSeconds(s, doc, values))) * 1000;
    const command: CommandRecord = {
      commandId: randomUUID(),
      documentName,
      documentVersion,
      doc,
      comment,
      parameters: (input.Parameters ?? {}) as Record<string, string[]>,
      values,
      instanceIds,
      requestedAt,
      timeoutSeconds,
      deliveryTimeoutMs,
      expiresAt: requestedAt + deliveryTimeoutMs + longestStepMs,
      outputBucket,
      outputPrefix,
      maxConcurrency,
      maxErrors,
      cancelRequested: false,
      invocations: [],
    };
    for (const id of instanceIds) {
      const host = this.hosts.get(id) as HostRecord;
      const inv: InvocationRecord = {
        command,
        host,
        status: "Pending",
        statusDetails: "Pending",
        steps: doc.mainSteps.map((step) => ({
          name: step.name,
          status: "Pending",
          statusDetails: "Pending",
          responseCode: -1,
          stdout: "",
          stderr: "",
          stdoutUrl: "",
          stderrUrl: "",
        })),
        cancelRequested: false,
        backlog: [],
      };
      command.invocations.push(inv);
      this.allInvocations.push(inv);
    }
    this.commands.set(command.commandId, command);
    this.commandCount += 1;
    const response = { Command: this.commandView(command) };
    // Delivery happens after the response, as with SSM: the caller first sees Pending.
    setImmediate(() => {
      for (const inv of command.invocations) {
        this.dispatch(inv);
      }
    });
    return response;
  }

  private dispatch(inv: InvocationRecord): void {
    if (this.closing || inv.status !== "Pending") return;
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
      if (inv.cancelRequested || this.closing) {
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
      const outcome = this.stepOutcome(result);
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
      const [status, details] = this.aggregate(inv.steps);
      this.finish(inv, status, details);
    });
  }

  private stepOutcome(
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

  private aggregate(steps: readonly StepRecord[]): [InvocationStatus, string] {
    if (steps.some((s) => s.status === "Cancelled")) return ["Cancelled", "Cancelled"];
    if (steps.some((s) => s.status === "TimedOut")) return ["TimedOut", "ExecutionTimedOut"];
    if (steps.some((s) => s.status === "Failed")) return ["Failed", "Failed"];
    return ["Success", "Success"];
  }

  /** A step's execution timeout as the agent computes it, capped by `stepTimeoutCapSeconds`. */
  private executionTimeoutSeconds(
    step: SsmDocumentContent["mainSteps"][number],
    doc: SsmDocumentContent,
    values: ParameterValues,
  ): number {
    const seconds = stepTimeoutSeconds(step, doc, values);
    const cap = this.options.stepTimeoutCapSeconds;
    return cap === undefined ? seconds : Math.min(seconds, cap);
  }

  /** Runs one step as the agent would: `_script.sh` in the step's orchestration directory. */
  private async runStep(inv: InvocationRecord, index: number): Promise<StepProcessResult> {
    const { command, host } = inv;
    const { doc, values } = command;
    const step = doc.mainSteps[index] as (typeof doc.mainSteps)[number];
    const record = inv.steps[index] as StepRecord;
    const orchestration = join(
      this.workDir,
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
      AWS_SSM_REGION_NAME: this.region,
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
    if (inv.cancelRequested || this.closing) proc.cancel();
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
    if (command.outputBucket === "" || this.closing) return { stdoutUrl: "", stderrUrl: "" };
    const urls = { stdoutUrl: "", stderrUrl: "" };
    for (const stream of ["stdout", "stderr"] as const) {
      const key = outputKey(
        command.outputPrefix,
        command.commandId,
        host.instanceId,
        stepName,
        stream,
      );
      await putObject(this.outputDir, command.outputBucket, key, result[stream]);
      urls[stream === "stdout" ? "stdoutUrl" : "stderrUrl"] = outputUrl(
        this.region,
        command.outputBucket,
        key,
      );
    }
    return urls;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  // ---------------------------------------------------------------- views

  private commandView(command: CommandRecord): Json {
    const invs = command.invocations;
    const done = invs.filter((i) => TERMINAL.has(i.status));
    const errors = invs.filter(
      (i) =>
        (i.status === "Failed" && i.statusDetails !== "Undeliverable") ||
        i.statusDetails === "ExecutionTimedOut",
    ).length;
    const deliveryTimedOut = invs.filter((i) => i.statusDetails === "DeliveryTimedOut").length;
    let status: InvocationStatus;
    let details: string;
    if (done.length < invs.length) {
      if (command.cancelRequested) {
        [status, details] = ["Cancelling", "Cancelling"];
      } else if (invs.some((i) => i.status !== "Pending")) {
        [status, details] = ["InProgress", "InProgress"];
      } else {
        [status, details] = ["Pending", "Pending"];
      }
    } else if (invs.every((i) => i.status === "Success")) {
      [status, details] = ["Success", "Success"];
    } else if (invs.some((i) => i.status === "Cancelled")) {
      [status, details] = ["Cancelled", "Cancelled"];
    } else if (errors > allowedErrors(command.maxErrors, invs.length)) {
      [status, details] = invs.some(
        (i) => i.status === "Failed" && i.statusDetails !== "Undeliverable",
      )
        ? ["Failed", "Failed"]
        : ["TimedOut", "ExecutionTimedOut"];
    } else if (deliveryTimedOut > allowedErrors(command.maxErrors, invs.length)) {
      [status, details] = ["TimedOut", "DeliveryTimedOut"];
    } else if (invs.every((i) => i.statusDetails === "Undeliverable")) {
      [status, details] = ["Failed", "Failed"];
    } else {
      [status, details] = ["Success", "Incomplete"];
    }
    return {
      CommandId: command.commandId,
      DocumentName: command.documentName,
      DocumentVersion: command.documentVersion,
      Comment: command.comment,
      ExpiresAfter: seconds(command.expiresAt),
      Parameters: command.parameters,
      InstanceIds: command.instanceIds,
      Targets: [],
      RequestedDateTime: seconds(command.requestedAt),
      Status: status,
      StatusDetails: details,
      OutputS3Region: this.region,
      OutputS3BucketName: command.outputBucket,
      OutputS3KeyPrefix: command.outputPrefix,
      MaxConcurrency: command.maxConcurrency,
      MaxErrors: command.maxErrors,
      TargetCount: invs.length,
      CompletedCount: done.length,
      ErrorCount: errors,
      DeliveryTimedOutCount: deliveryTimedOut,
      ServiceRole: "",
      NotificationConfig: { NotificationArn: "", NotificationEvents: [], NotificationType: "" },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
      TimeoutSeconds: command.timeoutSeconds,
    };
  }

  /** A step's status as the service shows it: a running step of a cancelling invocation is Cancelling. */
  private visibleStepStatus(inv: InvocationRecord, step: StepRecord): [InvocationStatus, string] {
    if (
      inv.status === "Cancelling" &&
      (step.status === "InProgress" || step.status === "Pending")
    ) {
      return ["Cancelling", "Cancelling"];
    }
    return [step.status, step.statusDetails];
  }

  private stepFinished(step: StepRecord): boolean {
    return TERMINAL.has(step.status) && step.endedAt !== undefined;
  }

  private invocationView(inv: InvocationRecord, details: boolean): Json {
    const { command } = inv;
    const single = inv.steps.length === 1 ? inv.steps[0] : undefined;
    const view: Json = {
      CommandId: command.commandId,
      InstanceId: inv.host.instanceId,
      InstanceName: inv.host.computerName,
      Comment: command.comment,
      DocumentName: command.documentName,
      DocumentVersion: command.documentVersion,
      RequestedDateTime: seconds(command.requestedAt),
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      TraceOutput: "",
      // An invocation names output URLs only when its document has a single step.
      StandardOutputUrl: single?.stdoutUrl ?? "",
      StandardErrorUrl: single?.stderrUrl ?? "",
      CommandPlugins: [],
      ServiceRole: "",
      NotificationConfig: { NotificationArn: "", NotificationEvents: [], NotificationType: "" },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
    };
    if (details) {
      view.CommandPlugins = inv.steps.map((step) => {
        const [status, statusDetails] = this.visibleStepStatus(inv, step);
        const finished = this.stepFinished(step);
        return {
          Name: step.name,
          Status: status === "Cancelling" ? "InProgress" : status,
          StatusDetails: statusDetails,
          ResponseCode: step.responseCode,
          ...(step.startedAt === undefined
            ? {}
            : { ResponseStartDateTime: seconds(step.startedAt) }),
          ...(step.endedAt === undefined ? {} : { ResponseFinishDateTime: seconds(step.endedAt) }),
          Output: finished ? pluginOutput(step.stdout, step.stderr) : "",
          StandardOutputUrl: step.stdoutUrl,
          StandardErrorUrl: step.stderrUrl,
          OutputS3Region: this.region,
          OutputS3BucketName: command.outputBucket,
          OutputS3KeyPrefix: command.outputPrefix,
        };
      });
    }
    return view;
  }

  // ---------------------------------------------------------------- read operations

  private getCommandInvocation(input: Json): Json {
    const commandId = requireString(input, "CommandId");
    if (!COMMAND_ID.test(commandId)) {
      throw validationError("commandId", commandId, "Member must have length 36");
    }
    const instanceId = requireString(input, "InstanceId");
    if (!INSTANCE_ID.test(instanceId)) {
      throw validationError(
        "instanceId",
        instanceId,
        `Member must satisfy regular expression pattern: ${INSTANCE_ID.source}`,
      );
    }
    const inv = this.commands
      .get(commandId)
      ?.invocations.find((i) => i.host.instanceId === instanceId);
    if (!inv) {
      throw new SsmApiError(
        "InvocationDoesNotExist",
        "An invocation with this command ID and instance ID does not exist.",
      );
    }
    const pluginName = optionalString(input, "PluginName", 128);
    let step: StepRecord | undefined;
    if (pluginName === undefined) {
      if (inv.steps.length > 1) {
        throw new SsmApiError(
          "InvalidPluginName",
          "The document has more than one step: specify PluginName with the step name.",
        );
      }
      step = inv.steps[0];
    } else {
      step = inv.steps.find((s) => s.name === pluginName);
    }
    if (!step) {
      throw new SsmApiError("InvalidPluginName", `The plugin name ${pluginName} is not valid.`);
    }
    const [status, details] = this.visibleStepStatus(inv, step);
    const finished = this.stepFinished(step);
    return {
      CommandId: inv.command.commandId,
      InstanceId: inv.host.instanceId,
      Comment: inv.command.comment,
      DocumentName: inv.command.documentName,
      DocumentVersion: inv.command.documentVersion,
      PluginName: step.name,
      ResponseCode: step.responseCode,
      ExecutionStartDateTime: isoOrEmpty(step.startedAt),
      ExecutionElapsedTime: elapsed(step),
      ExecutionEndDateTime: isoOrEmpty(step.endedAt),
      Status: status,
      StatusDetails: details,
      StandardOutputContent: finished ? stringPrefix(step.stdout, MAX_STDOUT_CONTENT) : "",
      StandardOutputUrl: step.stdoutUrl,
      StandardErrorContent: finished ? stringPrefix(step.stderr, MAX_STDERR_CONTENT) : "",
      StandardErrorUrl: step.stderrUrl,
      CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
    };
  }

  /** Applies ListCommands/ListCommandInvocations `Filters` (Status, DocumentName, InvokedAfter, InvokedBefore). */
  private commandFilter(input: Json): (command: CommandRecord, status: string) => boolean {
    const filters = input.Filters;
    if (filters === undefined || filters === null) return () => true;
    if (!Array.isArray(filters)) throw new SsmApiError("InvalidFilter", "Filters must be a list.");
    const tests = filters.map((raw: unknown): ((c: CommandRecord, status: string) => boolean) => {
      const { key, value } = (raw ?? {}) as { key?: unknown; value?: unknown };
      if (typeof value !== "string") {
        throw new SsmApiError("InvalidFilterValue", `Filter ${String(key)} needs a value.`);
      }
      switch (key) {
        case "Status":
          return (_c, status) => status === value;
        case "DocumentName":
          return (c) => c.documentName === value;
        case "InvokedAfter":
        case "InvokedBefore": {
          const at = Date.parse(value);
          if (Number.isNaN(at)) {
            throw new SsmApiError("InvalidFilterValue", `${key} needs an ISO 8601 time.`);
          }
          return key === "InvokedAfter" ? (c) => c.requestedAt >= at : (c) => c.requestedAt <= at;
        }
        default:
          throw new SsmApiError("InvalidFilterKey", `Filter key ${String(key)} is not supported.`);
      }
    });
    return (command, status) => tests.every((t) => t(command, status));
  }

  private checkCommandId(input: Json): string | undefined {
    const commandId = optionalString(input, "CommandId", 36);
    if (commandId !== undefined && !COMMAND_ID.test(commandId)) {
      throw validationError("commandId", commandId, "Member must have length 36");
    }
    return commandId;
  }

  private listCommandInvocations(input: Json): Json {
    const commandId = this.checkCommandId(input);
    const instanceId = optionalString(input, "InstanceId", 124);
    const limit = maxResults(input, 1, 50, 50);
    const filter = this.commandFilter(input);
    const source =
      commandId === undefined
        ? [...this.allInvocations].reverse()
        : (this.commands.get(commandId)?.invocations ?? []);
    const matching = source.filter(
      (inv) =>
        (instanceId === undefined || inv.host.instanceId === instanceId) &&
        filter(inv.command, inv.status),
    );
    const scope = JSON.stringify([
      "ListCommandInvocations",
      commandId,
      instanceId,
      input.Filters ?? null,
    ]);
    const { page, next } = paginate(matching, input, limit, scope);
    return {
      CommandInvocations: page.map((inv) => this.invocationView(inv, input.Details === true)),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }

  private listCommands(input: Json): Json {
    const commandId = this.checkCommandId(input);
    const instanceId = optionalString(input, "InstanceId", 124);
    const limit = maxResults(input, 1, 50, 50);
    const filter = this.commandFilter(input);
    let source: CommandRecord[];
    if (commandId !== undefined) {
      const command = this.commands.get(commandId);
      if (!command) {
        throw new SsmApiError("InvalidCommandId", `Command ${commandId} does not exist.`);
      }
      source = [command];
    } else {
      source = [...this.commands.values()].reverse();
    }
    const views = source
      .filter((c) => instanceId === undefined || c.instanceIds.includes(instanceId))
      .map((c) => this.commandView(c))
      .filter((view) => {
        const command = this.commands.get(view.CommandId as string) as CommandRecord;
        return filter(command, view.Status as string);
      });
    const scope = JSON.stringify(["ListCommands", commandId, instanceId, input.Filters ?? null]);
    const { page, next } = paginate(views, input, limit, scope);
    return { Commands: page, ...(next === undefined ? {} : { NextToken: next }) };
  }

  private cancelCommand(input: Json): Json {
    const commandId = requireString(input, "CommandId");
    if (!COMMAND_ID.test(commandId)) {
      throw validationError("commandId", commandId, "Member must have length 36");
    }
    const command = this.commands.get(commandId);
    if (!command) throw new SsmApiError("InvalidCommandId", `Command ${commandId} does not exist.`);
    const only = input.InstanceIds;
    if (only !== undefined && only !== null && !Array.isArray(only)) {
      throw validationError("instanceIds", only, "Member must be a list");
    }
    const targets = Array.isArray(only) && only.length > 0 ? (only as unknown[]) : undefined;
    for (const id of targets ?? []) {
      if (!command.instanceIds.includes(String(id))) {
        throw new SsmApiError(
          "InvalidInstanceId",
          `Instance ${String(id)} is not a target of command ${commandId}.`,
        );
      }
    }
    if (targets === undefined) command.cancelRequested = true;
    for (const inv of command.invocations) {
      if (targets !== undefined && !targets.includes(inv.host.instanceId)) continue;
      if (TERMINAL.has(inv.status)) continue;
      if (inv.status === "Pending" || inv.backlog.length > 0) {
        // Nothing the service could still show will change: end it now, and leave no process behind.
        inv.cancelRequested = true;
        inv.running?.cancel();
        this.terminate(inv, "Cancelled", "Cancelled");
        continue;
      }
      inv.cancelRequested = true;
      inv.status = "Cancelling";
      inv.statusDetails = "Cancelling";
      inv.running?.cancel();
    }
    return {};
  }

  private describeInstanceInformation(input: Json): Json {
    const limit = maxResults(input, 5, 50, 50);
    const tests: Array<(host: HostRecord) => boolean> = [];
    const addTest = (key: unknown, values: unknown) => {
      if (typeof key !== "string") {
        throw new SsmApiError("InvalidFilterKey", "A filter key is required.");
      }
      if (
        !Array.isArray(values) ||
        values.length === 0 ||
        !values.every((v) => typeof v === "string")
      ) {
        throw new SsmApiError(
          "InvalidInstanceInformationFilterValue",
          `Filter ${key} needs at least one value.`,
        );
      }
      const set = new Set(values as string[]);
      if (key.startsWith("tag:")) {
        const tag = key.slice(4);
        tests.push((h) => Object.hasOwn(h.tags, tag) && set.has(h.tags[tag] as string));
        return;
      }
      switch (key) {
        case "InstanceIds":
          tests.push((h) => set.has(h.instanceId));
          return;
        case "PingStatus":
          tests.push((h) => set.has(this.pingStatus(h)));
          return;
        case "PlatformTypes":
          tests.push(() => set.has(PLATFORM_TYPE));
          return;
        case "ResourceType":
          tests.push((h) => set.has(this.resourceType(h)));
          return;
        case "AgentVersion":
          tests.push(() => set.has(AGENT_VERSION));
          return;
        case "tag-key":
          tests.push((h) => [...set].some((k) => Object.hasOwn(h.tags, k)));
          return;
        default:
          throw new SsmApiError("InvalidFilterKey", `Filter key ${key} is not supported.`);
      }
    };
    for (const list of ["InstanceInformationFilterList", "Filters"] as const) {
      const filters = input[list];
      if (filters === undefined || filters === null) continue;
      if (!Array.isArray(filters)) {
        throw new SsmApiError("InvalidFilter", `${list} must be a list.`);
      }
      for (const f of filters as Array<Record<string, unknown>>) {
        if (list === "Filters") {
          addTest(f?.Key, f?.Values);
        } else if (typeof f?.key === "string" && f.key.startsWith("tag")) {
          // The old-style list has a closed set of keys; tags only work through Filters.
          throw new SsmApiError(
            "InvalidFilterKey",
            `Filter key ${f.key} is not supported in ${list}.`,
          );
        } else {
          addTest(f?.key, f?.valueSet);
        }
      }
    }
    const hosts = [...this.hosts.values()].filter((h) => tests.every((t) => t(h)));
    const scope = JSON.stringify([
      "DescribeInstanceInformation",
      input.InstanceInformationFilterList ?? null,
      input.Filters ?? null,
    ]);
    const { page, next } = paginate(hosts, input, limit, scope);
    const now = Date.now();
    return {
      InstanceInformationList: page.map((h) => {
        const managed = this.resourceType(h) === "ManagedInstance";
        return {
          InstanceId: h.instanceId,
          PingStatus: this.pingStatus(h),
          LastPingDateTime: seconds(h.state === "online" ? now : h.lastPingAt),
          AgentVersion: AGENT_VERSION,
          IsLatestVersion: true,
          PlatformType: PLATFORM_TYPE,
          PlatformName: "Linux",
          PlatformVersion: "",
          ResourceType: this.resourceType(h),
          ComputerName: h.computerName,
          IPAddress: "127.0.0.1",
          RegistrationDate: managed ? seconds(h.registeredAt) : undefined,
          SourceId: h.instanceId,
          SourceType: managed ? "AWS::SSM::ManagedInstance" : "AWS::EC2::Instance",
        };
      }),
      ...(next === undefined ? {} : { NextToken: next }),
    };
  }

  private pingStatus(host: HostRecord): string {
    return host.state === "online" ? "Online" : "ConnectionLost";
  }

  private resourceType(host: HostRecord): string {
    return host.instanceId.startsWith("mi-") ? "ManagedInstance" : "EC2Instance";
  }
}

/**
 * Starts a local SSM endpoint on 127.0.0.1 (random port) for the given documents and
 * simulated hosts. Point `@aws-sdk/client-ssm` at `endpoint`, and
 * `@aws-sdk/client-s3` too (with `forcePathStyle: true`) to read command output.
 * @throws Error when a document, host or option is invalid.
 */
export async function startLocalSsm(options: LocalSsmOptions): Promise<LocalSsm> {
  for (const [name, doc] of Object.entries(options.documents)) {
    validateDocument(name, doc);
  }
  const seen = new Set<string>();
  for (const host of options.hosts) {
    if (!INSTANCE_ID.test(host.instanceId)) {
      throw new Error(`invalid instance id ${JSON.stringify(host.instanceId)}`);
    }
    if (seen.has(host.instanceId)) throw new Error(`duplicate instance id ${host.instanceId}`);
    seen.add(host.instanceId);
    if (!isAbsolute(host.hostRoot)) {
      throw new Error(`hostRoot of ${host.instanceId} must be absolute`);
    }
  }
  if (options.deliveryTimeoutMs !== undefined && !(options.deliveryTimeoutMs >= 0)) {
    throw new Error("deliveryTimeoutMs must be a non-negative number");
  }
  const cap = options.stepTimeoutCapSeconds;
  if (cap !== undefined && !(Number.isInteger(cap) && cap > 0)) {
    throw new Error(`stepTimeoutCapSeconds must be a positive integer, got ${cap}`);
  }
  await mkdir(resolve(options.outputDir), { recursive: true });
  // The agent's orchestration directories (one _script.sh per step) live outside the host roots.
  const workDir = await mkdtemp(join(tmpdir(), "local-ssm-"));
  const server = new LocalSsmServer(options, workDir);
  try {
    await server.listen();
  } catch (error) {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  }
  return server;
}
