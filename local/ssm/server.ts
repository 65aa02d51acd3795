/**
 * The local SSM endpoint: an HTTP server speaking the AWS JSON 1.1 protocol for the
 * Run Command subset agent-rollout uses, plus path-style S3 reads of command output.
 * Commands really run, as bash process groups, on simulated hosts that are plain
 * directories (`AR_HOST_ROOT`). This module only composes the parts: the wire
 * (transport.ts), the operations (operations.ts, checked by validation.ts, answered
 * by views.ts), the hosts (instances.ts), the commands (commands.ts) and the agent
 * that runs them (agent.ts).
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SimulatedAgent } from "./agent.js";
import { CommandLog } from "./commands.js";
import { InstanceRegistry } from "./instances.js";
import { ssmOperations } from "./operations.js";
import { ApiTransport } from "./transport.js";
import type { InvocationSnapshot, LocalHostState, LocalSsm, LocalSsmOptions } from "./types.js";
import { validateOptions } from "./validation.js";
import { invocationSnapshot } from "./views.js";

/** Running state of one endpoint. */
class LocalSsmServer implements LocalSsm {
  endpoint = "";
  private readonly instances: InstanceRegistry;
  private readonly commands = new CommandLog();
  private readonly agent: SimulatedAgent;
  private readonly transport: ApiTransport;

  constructor(
    options: LocalSsmOptions,
    private readonly workDir: string,
  ) {
    const region = options.region ?? "us-east-1";
    const outputDir = resolve(options.outputDir);
    this.instances = new InstanceRegistry(options.hosts);
    this.agent = new SimulatedAgent({
      region,
      outputDir,
      workDir,
      env: options.env,
      stepTimeoutCapSeconds: options.stepTimeoutCapSeconds,
      log: options.log,
    });
    const handlers = ssmOperations({
      options,
      region,
      instances: this.instances,
      commands: this.commands,
      agent: this.agent,
    });
    this.transport = new ApiTransport(handlers, outputDir);
  }

  async listen(): Promise<void> {
    this.endpoint = await this.transport.listen();
  }

  async close(): Promise<void> {
    if (this.agent.stopped) return;
    await this.agent.stop(this.commands.allInvocations());
    await this.transport.close();
    await rm(this.workDir, { recursive: true, force: true });
  }

  setHostState(instanceId: string, state: LocalHostState): void {
    if (!this.instances.setState(instanceId, state)) return;
    this.agent.hostChanged(this.instances.get(instanceId), this.commands.allInvocations());
  }

  injectThrottling(operation: string, times: number): void {
    this.transport.injectThrottling(operation, times);
  }

  stats(): { calls: Record<string, number>; commands: number } {
    return { calls: this.transport.callCounts(), commands: this.commands.size };
  }

  invocations(): InvocationSnapshot[] {
    return this.commands.allInvocations().map(invocationSnapshot);
  }
}

/**
 * Starts a local SSM endpoint on 127.0.0.1 (random port) for the given documents and
 * simulated hosts. Point `@aws-sdk/client-ssm` at `endpoint`, and
 * `@aws-sdk/client-s3` too (with `forcePathStyle: true`) to read command output.
 * @throws Error when a document, host or option is invalid.
 */
export async function startLocalSsm(options: LocalSsmOptions): Promise<LocalSsm> {
  validateOptions(options);
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
