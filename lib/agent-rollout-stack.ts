import { ArnFormat, CfnOutput, Duration, Stack, type StackProps, Validations } from "aws-cdk-lib";
import { ManagedPolicy, Policy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";
import { CommandOutputBucket } from "./command-output-bucket.js";
import { CONTEXT_DEFAULTS, projectPath } from "./config.js";
import { type DocumentStep, HostDocuments } from "./host-command-documents.js";
import { listProfiles } from "./host-documents/index.js";
import { type LedgerAction, LedgerTable } from "./ledger-table.js";
import { acknowledgeWildcardResources } from "./nag.js";
import { NightlyCleanup } from "./nightly-cleanup.js";
import { RolloutAlarms } from "./observability/alarms.js";
import { RolloutDashboard } from "./observability/dashboard.js";
import { type FunctionEnvironment, type HandlerName, RolloutFunction } from "./rollout-function.js";
import { RolloutStateMachine } from "./rollout-state-machine.js";
import { StoppedExecutionRecorder } from "./stopped-execution-recorder.js";

/** Properties of {@link AgentRolloutStack}. */
export interface AgentRolloutStackProps extends StackProps {
  /** EventBridge schedule expression of the nightly cleanup (UTC). @default "cron(0 2 * * ? *)" */
  readonly cleanupSchedule?: string;
  /** Tag key a host must carry for the stack to command it. @default "agent-rollout:managed" */
  readonly targetTagKey?: string;
  /** Value of that tag. @default "true" */
  readonly targetTagValue?: string;
  /** Directory of the profiles deployed with the stack. @default `<project>/profiles` */
  readonly profilesDir?: string;
  /** Retention of every log group. @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /** host-step's inline polling budget (`INLINE_POLL_SECONDS`), seconds. @default 20 */
  readonly inlinePollSeconds?: number;
  /** SNS topic the alarms notify. @default - none: the alarms have no actions */
  readonly alarmTopicArn?: string;
  /**
   * Nights a snapshot may stay pending before the overdue-cleanup alarm
   * (`CLEANUP_OVERDUE_NIGHTS` of nightly-cleanup). @default 3
   */
  readonly cleanupOverdueNights?: number;
  /**
   * Most host-step invocations one rollout runs at once: plan-rollout refuses a
   * `batchSize` above it (`HOST_STEP_CONCURRENCY`). @default 100
   */
  readonly hostStepConcurrency?: number;
  /**
   * Also reserve {@link hostStepConcurrency} for host-step (taken from the account's
   * unreserved concurrency, which must stay at least 100). @default false
   */
  readonly reserveHostStepConcurrency?: boolean;
  /** Directories on the hosts file:// artifacts may come from. @default [] (file:// refused) */
  readonly artifactDirs?: readonly string[];
}

/** Memory and timeout per function; the rest is the same for all (see RolloutFunction). */
const SIZING: Record<HandlerName, { memorySize: number; timeout: Duration; description: string }> =
  {
    // Resolves up to 10,000 hosts and writes one ledger item each.
    "plan-rollout": {
      memorySize: 1024,
      timeout: Duration.minutes(5),
      description: "Validates a rollout, resolves and orders its hosts, takes the fleet lock",
    },
    // A fewest-jobs wave waits up to JOB_COUNT_SECONDS (60) for the job counts, then
    // moves up to the whole rollout's hosts between waves.
    "load-wave": {
      memorySize: 512,
      timeout: Duration.minutes(5),
      description:
        "Lists the hosts of one wave from the ledger; fewest-jobs: orders them by job count",
    },
    // Polls inline, reads full command output from S3, writes job snapshots.
    "host-step": {
      memorySize: 512,
      timeout: Duration.minutes(5),
      description: "Sends and polls one step's SSM command on one host",
    },
    "record-host": {
      memorySize: 256,
      timeout: Duration.seconds(30),
      description: "Records a host's outcome in the ledger",
    },
    "evaluate-wave": {
      memorySize: 256,
      timeout: Duration.minutes(1),
      description: "Weighs a wave's failures against the threshold and picks the next wave",
    },
    // May mark every host of the remaining waves NOT_STARTED.
    "finish-rollout": {
      memorySize: 512,
      timeout: Duration.minutes(5),
      description: "Sets the final rollout status and releases the fleet lock",
    },
    "nightly-cleanup": {
      memorySize: 512,
      timeout: Duration.minutes(15),
      description: "Deletes old releases whose recorded jobs have all finished",
    },
  };

/**
 * DynamoDB actions per function: only what its handler calls
 * (docs/contracts.md, "Permissions").
 */
const LEDGER_ACTIONS: Record<HandlerName, LedgerAction[]> = {
  // Lock (conditional put, read on conflict, delete on a failed plan), rollout, hosts.
  "plan-rollout": [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
  ],
  // Marks the rollout RUNNING on wave 0, reads its order, lists a wave's hosts;
  // fewest-jobs: lists the rollout's hosts, moves them between waves (put, delete).
  "load-wave": [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
    "dynamodb:Query",
  ],
  // Host status and commands; snapshot item and its chunks.
  "host-step": [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:BatchWriteItem",
  ],
  "record-host": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
  // Counts hosts, raises failedCount, extends the lock.
  "evaluate-wave": ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
  // Final status, lock release.
  "finish-rollout": [
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
  ],
  // Marks snapshots checked or done; finds pending ones through the index (granted apart).
  "nightly-cleanup": ["dynamodb:UpdateItem"],
};

/**
 * agent-rollout: the rollout state machine and its functions, the ledger, the SSM
 * documents the hosts run, the command output bucket, the nightly cleanup, and the
 * operator's dashboard and alarms.
 * This class only composes the constructs and grants each function what it uses.
 */
export class AgentRolloutStack extends Stack {
  /** The ledger. */
  public readonly ledger: LedgerTable;
  /** The command output bucket and the hosts' policy. */
  public readonly commandOutput: CommandOutputBucket;
  /** The hosts' SSM documents. */
  public readonly hostDocuments: HostDocuments;
  /** Functions by handler name. */
  public readonly functions: Readonly<Record<HandlerName, RolloutFunction>>;
  /** The rollout state machine. */
  public readonly rollout: RolloutStateMachine;
  /** The nightly cleanup schedule. */
  public readonly nightlyCleanup: NightlyCleanup;
  /** Records executions stopped or timed out (no Catch runs for those). */
  public readonly stoppedExecutions: StoppedExecutionRecorder;
  /** The operator's CloudWatch dashboard. */
  public readonly dashboard: RolloutDashboard;
  /** Alarms that need a person. */
  public readonly alarms: RolloutAlarms;

  constructor(scope: Construct, id: string, props: AgentRolloutStackProps = {}) {
    // Written compact: every profile adds five command documents of host scripts, and
    // indentation alone would cost a quarter of CloudFormation's 1,000,000 bytes.
    super(scope, id, { suppressTemplateIndentation: true, ...props });
    const profilesDir = projectPath(props.profilesDir ?? CONTEXT_DEFAULTS.profilesDir);
    const targetTagKey = props.targetTagKey ?? CONTEXT_DEFAULTS.targetTagKey;
    const targetTagValue = props.targetTagValue ?? CONTEXT_DEFAULTS.targetTagValue;
    const logRetention = props.logRetention ?? RetentionDays.THREE_MONTHS;
    const overdueNights = props.cleanupOverdueNights ?? CONTEXT_DEFAULTS.cleanupOverdueNights;
    const profiles = listProfiles(profilesDir);
    const hostStepConcurrency = props.hostStepConcurrency ?? CONTEXT_DEFAULTS.hostStepConcurrency;

    this.ledger = new LedgerTable(this, "Ledger");
    this.commandOutput = new CommandOutputBucket(this, "CommandOutput");
    const artifactDirs = props.artifactDirs ?? [];
    this.hostDocuments = new HostDocuments(this, "HostDocuments", { profilesDir, artifactDirs });
    const documentPrefix = this.hostDocuments.prefix;
    const outputBucket = this.commandOutput.bucket.bucketName;

    const tableName = this.ledger.table.tableName;
    // Typed from each function's env schema: a variable renamed there breaks this build.
    const environments: { readonly [N in HandlerName]: FunctionEnvironment<N> } = {
      "plan-rollout": {
        TABLE_NAME: tableName,
        PROFILE_NAMES: profiles.join(","),
        TARGET_TAG_KEY: targetTagKey,
        TARGET_TAG_VALUE: targetTagValue,
        HOST_STEP_CONCURRENCY: String(hostStepConcurrency),
        ...(artifactDirs.length === 0 ? {} : { ARTIFACT_DIRS: artifactDirs.join(":") }),
      },
      "load-wave": { TABLE_NAME: tableName, DOCUMENT_PREFIX: documentPrefix },
      "host-step": {
        TABLE_NAME: tableName,
        DOCUMENT_PREFIX: documentPrefix,
        OUTPUT_BUCKET: outputBucket,
        INLINE_POLL_SECONDS: String(props.inlinePollSeconds ?? CONTEXT_DEFAULTS.inlinePollSeconds),
      },
      "record-host": { TABLE_NAME: tableName },
      "evaluate-wave": { TABLE_NAME: tableName },
      "finish-rollout": { TABLE_NAME: tableName },
      "nightly-cleanup": {
        TABLE_NAME: tableName,
        DOCUMENT_PREFIX: documentPrefix,
        OUTPUT_BUCKET: outputBucket,
        CLEANUP_OVERDUE_NIGHTS: String(overdueNights),
      },
    };

    // host-step: at most one invocation per host of a Map batch, so batchSize bounds it;
    // reserved only on request. nightly-cleanup: one nightly run at a time.
    const reservedConcurrency: Partial<Record<HandlerName, number>> = {
      ...(props.reserveHostStepConcurrency ? { "host-step": hostStepConcurrency } : {}),
      "nightly-cleanup": 1,
    };
    const createFunction = <N extends HandlerName>(handlerName: N): RolloutFunction<N> => {
      const fn = new RolloutFunction(this, pascal(handlerName), {
        handlerName,
        ...SIZING[handlerName],
        logRetention,
        environment: environments[handlerName],
        reservedConcurrentExecutions: reservedConcurrency[handlerName],
      });
      this.ledger.grant(fn.role, ...LEDGER_ACTIONS[handlerName]);
      return fn;
    };
    const functions = {} as Record<HandlerName, RolloutFunction>;
    for (const handlerName of Object.keys(SIZING) as HandlerName[]) {
      functions[handlerName] = createFunction(handlerName);
    }
    this.functions = functions;

    this.ledger.grantQueryCleanupIndex(functions["nightly-cleanup"].role);
    for (const name of ["host-step", "nightly-cleanup"] as const) {
      this.commandOutput.grantReadOutput(functions[name].role);
    }
    // Rollback: a host of a whole-rollout rollback, or an upgraded host found not serving
    // after its switch, goes back to its previous release (the verification itself runs
    // the Preflight document).
    this.grantSendCommand(functions["host-step"], ["preflight", "stage", "switch", "rollback"], {
      targetTagKey,
      targetTagValue,
    });
    // fewest-jobs: the preflight document's read-only job count.
    this.grantSendCommand(functions["load-wave"], ["preflight"], {
      targetTagKey,
      targetTagValue,
    });
    this.grantSendCommand(functions["nightly-cleanup"], ["cleanup"], {
      targetTagKey,
      targetTagValue,
    });
    this.grantSsmRead(functions["plan-rollout"], ["ssm:DescribeInstanceInformation"]);
    this.grantSsmRead(functions["host-step"], ["ssm:GetCommandInvocation"]);
    this.grantSsmRead(functions["nightly-cleanup"], ["ssm:GetCommandInvocation"]);
    this.grantSsmRead(functions["load-wave"], ["ssm:ListCommandInvocations"]);
    this.grantDescribeAlarms([functions["host-step"], functions["evaluate-wave"]]);

    const stateMachineName = `${this.stackName}-Rollout`;
    this.grantDescribeRolloutExecutions(functions["plan-rollout"], stateMachineName);
    this.rollout = new RolloutStateMachine(this, "Rollout", {
      stateMachineName,
      logRetention,
      functions: {
        planRollout: functions["plan-rollout"].function,
        loadWave: functions["load-wave"].function,
        hostStep: functions["host-step"].function,
        recordHost: functions["record-host"].function,
        evaluateWave: functions["evaluate-wave"].function,
        finishRollout: functions["finish-rollout"].function,
      },
    });

    this.nightlyCleanup = new NightlyCleanup(this, "CleanupSchedule", {
      function: functions["nightly-cleanup"].function,
      schedule: props.cleanupSchedule ?? CONTEXT_DEFAULTS.cleanupSchedule,
    });

    this.stoppedExecutions = new StoppedExecutionRecorder(this, "StoppedExecutions", {
      stateMachine: this.rollout.stateMachine,
      finishRollout: functions["finish-rollout"].function,
      deadLetterQueue: this.nightlyCleanup.deadLetterQueue,
    });

    const functionsByName = Object.fromEntries(
      Object.entries(functions).map(([name, fn]) => [name, fn.function]),
    );
    this.dashboard = new RolloutDashboard(this, "Dashboard", {
      dashboardName: `${this.stackName}-Operations`,
      functions: functionsByName,
      profiles,
      deadLetterQueues: [this.nightlyCleanup.deadLetterQueue],
    });
    this.alarms = new RolloutAlarms(this, "Alarms", {
      nightlyCleanup: functions["nightly-cleanup"].function,
      hostStep: functions["host-step"].function,
      deadLetterQueue: this.nightlyCleanup.deadLetterQueue,
      overdueNights,
      alarmTopicArn: props.alarmTopicArn,
    });

    new CfnOutput(this, "StateMachineArn", {
      description: "Start a rollout: aws stepfunctions start-execution --state-machine-arn <this>",
      value: this.rollout.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, "LedgerTableName", { value: this.ledger.table.tableName });
    new CfnOutput(this, "DashboardName", { value: this.dashboard.dashboard.dashboardName });
    new CfnOutput(this, "CleanupFunctionName", {
      description: "Run the nightly cleanup now: npx agent-rollout cleanup --now",
      value: functions["nightly-cleanup"].function.functionName,
    });
    new CfnOutput(this, "CommandOutputBucketName", { value: outputBucket });
    new CfnOutput(this, "HostPolicyArn", {
      description: "Attach to the instance role of the managed hosts (SSM command output upload)",
      value: this.commandOutput.hostPolicy.managedPolicyArn,
    });
    new CfnOutput(this, "DocumentNamePrefix", {
      description:
        "The hosts' documents are named <this>-<Step>-<profile>, Step one of Preflight, Stage, Switch, Rollback, Cleanup",
      value: documentPrefix,
    });
  }

  /**
   * `ssm:SendCommand` needs both the document and the instance: the documents are
   * named (those of `steps`, every profile's: the stack's documents only), the
   * instances are only allowed when they carry the target tag (the condition applies
   * to instances, so documents get statements of their own). The document names grow
   * with the profiles, and a role's inline policies share 10,240 characters: they go
   * to managed policies (6,144 characters each) of at most
   * {@link DOCUMENT_ARNS_PER_POLICY_CHARS} characters of ARNs.
   */
  private grantSendCommand(
    fn: RolloutFunction,
    steps: readonly DocumentStep[],
    tag: { targetTagKey: string; targetTagValue: string },
  ): void {
    const instances = [
      this.formatArn({ service: "ec2", resource: "instance", resourceName: "*" }),
      this.formatArn({ service: "ssm", resource: "managed-instance", resourceName: "*" }),
    ];
    const documentNames = this.hostDocuments.profiles.flatMap((profile) =>
      steps.map((step) => this.hostDocuments.names[profile]?.[step] ?? ""),
    );
    chunkByLength(documentNames, DOCUMENT_ARNS_PER_POLICY_CHARS).forEach((chunk, i) => {
      new ManagedPolicy(this, `${pascal(fn.handlerName)}SendDocuments${i + 1}`, {
        roles: [fn.role],
        statements: [
          new PolicyStatement({
            actions: ["ssm:SendCommand"],
            resources: chunk.map((name) =>
              this.formatArn({ service: "ssm", resource: "document", resourceName: name }),
            ),
          }),
        ],
      });
    });
    const policy = new Policy(this, `${pascal(fn.handlerName)}SendCommand`, {
      roles: [fn.role],
      statements: [
        new PolicyStatement({
          actions: ["ssm:SendCommand"],
          resources: instances,
          conditions: {
            StringEquals: { [`ssm:resourceTag/${tag.targetTagKey}`]: tag.targetTagValue },
          },
        }),
      ],
    });
    acknowledgeWildcardResources(
      policy,
      instances,
      `Hosts are chosen per rollout; the statement allows only instances tagged ${tag.targetTagKey}=${tag.targetTagValue} (ssm:resourceTag condition).`,
    );
  }

  /**
   * `states:DescribeExecution` on this state machine's executions only: breakLock asks
   * whether the lock's owner still runs. The ARN is built from the state machine's
   * name, not its resource, which would make the policy depend on the state machine
   * that invokes the function.
   */
  private grantDescribeRolloutExecutions(fn: RolloutFunction, stateMachineName: string): void {
    const executions = this.formatArn({
      service: "states",
      resource: "execution",
      resourceName: `${stateMachineName}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const policy = new Policy(this, `${pascal(fn.handlerName)}DescribeExecution`, {
      roles: [fn.role],
      statements: [
        new PolicyStatement({ actions: ["states:DescribeExecution"], resources: [executions] }),
      ],
    });
    acknowledgeWildcardResources(
      policy,
      [executions],
      "breakLock names a rollout by its execution name, known only at run time; the statement allows DescribeExecution on this state machine's executions only.",
    );
  }

  /** Read-only SSM actions that AWS authorises on `*` only. */
  /**
   * The alarm gate: DescribeAlarms on this account's alarms in this region only
   * (the action supports the `alarm` resource type), nothing else of CloudWatch.
   */
  private grantDescribeAlarms(fns: readonly RolloutFunction[]): void {
    const alarms = this.formatArn({
      service: "cloudwatch",
      resource: "alarm",
      resourceName: "*",
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    for (const fn of fns) {
      const policy = new Policy(this, `${pascal(fn.handlerName)}DescribeAlarms`, {
        roles: [fn.role],
        statements: [
          new PolicyStatement({ actions: ["cloudwatch:DescribeAlarms"], resources: [alarms] }),
        ],
      });
      acknowledgeWildcardResources(
        policy,
        [alarms],
        "The alarms a rollout reads are named in its execution input, not known at deploy time: read-only DescribeAlarms on this account's alarms in this region.",
      );
    }
  }

  private grantSsmRead(fn: RolloutFunction, actions: readonly string[]): void {
    const policy = new Policy(this, `${pascal(fn.handlerName)}SsmRead`, {
      roles: [fn.role],
      statements: [new PolicyStatement({ actions: [...actions], resources: ["*"] })],
    });
    Validations.of(policy).acknowledge({
      id: "AwsSolutions-IAM5[Resource::*]",
      reason: `${actions.join(" and ")} support no resource-level permissions: AWS offers no narrower resource than *.`,
    });
  }
}

/** `host-step` → `HostStep`. */
/**
 * Characters of document ARNs per managed policy: under IAM's 6,144 with room for the
 * statement and the longest partition and region (an ARN is counted as its name plus
 * {@link DOCUMENT_ARN_OVERHEAD_CHARS}).
 */
const DOCUMENT_ARNS_PER_POLICY_CHARS = 5_500;

/** `"arn:aws-us-gov:ssm:ap-southeast-2:123456789012:document/",` without the name, rounded up. */
const DOCUMENT_ARN_OVERHEAD_CHARS = 64;

/** `names` in consecutive groups whose ARNs take at most `limit` characters. */
function chunkByLength(names: readonly string[], limit: number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let length = 0;
  for (const name of names) {
    const size = name.length + DOCUMENT_ARN_OVERHEAD_CHARS;
    if (current.length > 0 && length + size > limit) {
      chunks.push(current);
      current = [];
      length = 0;
    }
    current.push(name);
    length += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function pascal(name: string): string {
  return name
    .split("-")
    .map((part) => `${part.charAt(0).toUpperCase()}${part.slice(1)}`)
    .join("");
}
