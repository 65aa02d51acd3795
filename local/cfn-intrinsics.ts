/**
 * Resolves the CloudFormation intrinsics of a synthesized template to fixed
 * placeholders: account `000000000000`, region `us-east-1`, partition `aws`, a
 * resource's physical name is its explicit name, else its logical id (lower-cased for
 * buckets, as S3 requires), and ARNs are built from those, e.g. a function's
 * `Fn::GetAtt [Fn, Arn]` is `arn:aws:lambda:us-east-1:000000000000:function:<logicalId>`.
 *
 * @module
 */

/** Placeholder account id. */
export const PLACEHOLDER_ACCOUNT = "000000000000";
/** Placeholder region. */
export const PLACEHOLDER_REGION = "us-east-1";

/** A resource of a template, as far as the resolver reads it. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

/** A synthesized template, as far as the resolver reads it. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
}

/** Resolves CloudFormation intrinsics of one template to placeholders. */
export class TemplateResolver {
  constructor(
    private readonly template: CfnTemplate,
    private readonly stackName: string,
  ) {}

  /** A resolved copy of `value`. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item));
    if (typeof value !== "object" || value === null) return value;
    const node = value as Record<string, unknown>;
    const keys = Object.keys(node);
    const [key] = keys;
    if (keys.length === 1 && key !== undefined && (key === "Ref" || key.startsWith("Fn::"))) {
      return this.intrinsic(key, node[key]);
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(node[k])]));
  }

  /** The placeholder ARN of resource `logicalId`. */
  arn(logicalId: string): string {
    const type = this.resource(logicalId).Type;
    const name = this.physicalName(logicalId);
    const regional = (service: string) =>
      `arn:aws:${service}:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;
    switch (type) {
      case "AWS::Lambda::Function":
        return `${regional("lambda")}:function:${name}`;
      case "AWS::DynamoDB::Table":
        return `${regional("dynamodb")}:table/${name}`;
      case "AWS::S3::Bucket":
        return `arn:aws:s3:::${name}`;
      case "AWS::StepFunctions::StateMachine":
        return `${regional("states")}:stateMachine:${name}`;
      case "AWS::SQS::Queue":
        return `${regional("sqs")}:${name}`;
      case "AWS::Logs::LogGroup":
        return `${regional("logs")}:log-group:${name}:*`;
      case "AWS::IAM::Role":
        return `arn:aws:iam::${PLACEHOLDER_ACCOUNT}:role/${name}`;
      case "AWS::IAM::ManagedPolicy":
        return `arn:aws:iam::${PLACEHOLDER_ACCOUNT}:policy/${name}`;
      case "AWS::SSM::Document":
        return `${regional("ssm")}:document/${name}`;
      default:
        return `${regional(type.split("::")[1]?.toLowerCase() ?? "unknown")}:${name}`;
    }
  }

  /** The placeholder physical name of resource `logicalId`: its explicit name, else its logical id. */
  physicalName(logicalId: string): string {
    const resource = this.resource(logicalId);
    const props = resource.Properties ?? {};
    const explicit: Record<string, string> = {
      "AWS::Lambda::Function": "FunctionName",
      "AWS::DynamoDB::Table": "TableName",
      "AWS::S3::Bucket": "BucketName",
      "AWS::StepFunctions::StateMachine": "StateMachineName",
      "AWS::SQS::Queue": "QueueName",
      "AWS::Logs::LogGroup": "LogGroupName",
      "AWS::IAM::Role": "RoleName",
      "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
      "AWS::SSM::Document": "Name",
    };
    const property = explicit[resource.Type];
    if (property !== undefined && props[property] !== undefined) {
      return String(this.resolve(props[property]));
    }
    return resource.Type === "AWS::S3::Bucket" ? logicalId.toLowerCase().slice(0, 63) : logicalId;
  }

  private resource(logicalId: string): CfnResource {
    const resource = this.template.Resources[logicalId];
    if (resource === undefined) throw new Error(`no resource ${logicalId} in the template`);
    return resource;
  }

  private ref(name: string): string {
    switch (name) {
      case "AWS::Partition":
        return "aws";
      case "AWS::Region":
        return PLACEHOLDER_REGION;
      case "AWS::AccountId":
        return PLACEHOLDER_ACCOUNT;
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return this.stackName;
      case "AWS::StackId":
        return `arn:aws:cloudformation:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
    }
    const type = this.resource(name).Type;
    // Resources whose Ref is an ARN (or URL) rather than a name.
    if (
      type === "AWS::StepFunctions::StateMachine" ||
      type === "AWS::IAM::ManagedPolicy" ||
      type === "AWS::SQS::Queue"
    ) {
      return type === "AWS::SQS::Queue"
        ? `https://sqs.${PLACEHOLDER_REGION}.amazonaws.com/${PLACEHOLDER_ACCOUNT}/${this.physicalName(name)}`
        : this.arn(name);
    }
    return this.physicalName(name);
  }

  private getAtt(logicalId: string, attribute: string): string {
    if (attribute === "Arn") return this.arn(logicalId);
    if (attribute === "Name" || attribute.endsWith("Name")) return this.physicalName(logicalId);
    return `${logicalId}.${attribute}`;
  }

  private intrinsic(fn: string, args: unknown): unknown {
    switch (fn) {
      case "Ref":
        return this.ref(String(args));
      case "Fn::GetAtt": {
        const [logicalId, attribute] = Array.isArray(args) ? args : String(args).split(".");
        return this.getAtt(String(logicalId), String(attribute));
      }
      case "Fn::Join": {
        const [delimiter, parts] = args as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).map(String).join(delimiter);
      }
      case "Fn::Split": {
        const [delimiter, source] = args as [string, unknown];
        return String(this.resolve(source)).split(delimiter);
      }
      case "Fn::Select": {
        const [index, list] = args as [number | string, unknown];
        return (this.resolve(list) as unknown[])[Number(index)];
      }
      case "Fn::Sub": {
        const [text, variables] = (Array.isArray(args) ? args : [args, {}]) as [
          string,
          Record<string, unknown>,
        ];
        return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
          if (name in variables) return String(this.resolve(variables[name]));
          const [logicalId, attribute] = name.split(".");
          return attribute === undefined
            ? this.ref(name)
            : this.getAtt(String(logicalId), attribute);
        });
      }
      default:
        throw new Error(`cannot resolve ${fn} in the template`);
    }
  }
}
