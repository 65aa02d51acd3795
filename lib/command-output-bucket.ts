import { Duration, RemovalPolicy } from "aws-cdk-lib";
import { type IGrantable, ManagedPolicy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from "aws-cdk-lib/aws-s3";
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from "aws-cdk-lib/cx-api";
import { Construct } from "constructs";
import { acknowledgeWildcardResources } from "./nag.js";

/** Key prefix under which host-step and nightly-cleanup ask SSM to write command output. */
export const COMMAND_OUTPUT_PREFIX = "commands/";

/** Properties of {@link CommandOutputBucket}. */
export interface CommandOutputBucketProps {
  /** How long command output is kept. @default Duration.days(30) */
  readonly outputExpiration?: Duration;
  /** How long server access logs are kept. @default Duration.days(365) */
  readonly accessLogsExpiration?: Duration;
}

/**
 * Bucket for SSM Run Command output. SSM returns at most 24,000 characters of stdout;
 * a switch on a busy host prints more (its job snapshot), so commands are sent with
 * `OutputS3BucketName` and the Lambdas read the full stdout from here.
 *
 * The SSM agent uploads with the credentials of the host's instance role, so the
 * construct also creates {@link CommandOutputBucket.hostPolicy}, which the operator
 * attaches to that role.
 */
export class CommandOutputBucket extends Construct {
  /** The output bucket. */
  public readonly bucket: Bucket;
  /** Destination of the output bucket's server access logs. */
  public readonly accessLogsBucket: Bucket;
  /** Policy for the hosts' instance role: upload command output under the prefix. */
  public readonly hostPolicy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: CommandOutputBucketProps = {}) {
    super(scope, id);
    // Grant S3 log delivery through a bucket policy, not the legacy LogDeliveryWrite
    // ACL (which would need ACLs enabled on the log bucket), whatever cdk.json says.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);

    this.accessLogsBucket = new Bucket(this, "AccessLogs", {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ expiration: props.accessLogsExpiration ?? Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new Bucket(this, "Bucket", {
      // SSE-S3: the SSM agent then needs no KMS permission on the hosts.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: "output-bucket/",
      lifecycleRules: [
        {
          // Output is read once, right after the command; keep it a while for audits.
          expiration: props.outputExpiration ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.hostPolicy = new ManagedPolicy(this, "HostPolicy", {
      description:
        "Attach to the instance role of the hosts agent-rollout manages: lets the SSM agent upload command output.",
      statements: [
        new PolicyStatement({
          actions: ["s3:PutObject"],
          resources: [this.outputObjectsArn()],
        }),
        // The agent checks the bucket's default encryption before uploading.
        new PolicyStatement({
          actions: ["s3:GetEncryptionConfiguration"],
          resources: [this.bucket.bucketArn],
        }),
      ],
    });
    acknowledgeWildcardResources(
      this.hostPolicy,
      [this.outputObjectsArn()],
      "Hosts write one object per command and plugin under commands/<commandId>/<instanceId>/...; the names are only known at run time, so the grant is the prefix.",
    );
  }

  /** Grants `s3:GetObject` on command output objects (under the prefix) only. */
  public grantReadOutput(grantee: IGrantable): void {
    const resource = this.outputObjectsArn();
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ["s3:GetObject"], resources: [resource] }),
    );
    if (principal instanceof Construct) {
      acknowledgeWildcardResources(
        principal,
        [resource],
        "The function reads the stdout of the commands it sent; object keys embed the command and instance ids, so the grant is the commands/ prefix.",
      );
    }
  }

  private outputObjectsArn(): string {
    return this.bucket.arnForObjects(`${COMMAND_OUTPUT_PREFIX}*`);
  }
}
