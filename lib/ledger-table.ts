import { RemovalPolicy } from "aws-cdk-lib";
import {
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";
import { CLEANUP_INDEX, TABLE_KEY } from "../lambdas/common/ledger/keys.js";

/** Name of the sparse index of pending cleanups (docs/contracts.md, "Ledger"). */
export const CLEANUP_INDEX_NAME = CLEANUP_INDEX.name;

/** Item-level DynamoDB actions a function of the stack may be granted on the ledger. */
export type LedgerAction =
  | "dynamodb:GetItem"
  | "dynamodb:PutItem"
  | "dynamodb:UpdateItem"
  | "dynamodb:DeleteItem"
  | "dynamodb:Query"
  | "dynamodb:BatchWriteItem";

/** Properties of {@link LedgerTable}. */
export interface LedgerTableProps {
  /**
   * Protects the table against deletion (CloudFormation and API). The ledger holds the
   * job snapshots the nightly cleanup needs before it may delete an old release.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * The rollout ledger: one DynamoDB table with string keys, and the sparse index that
 * finds the snapshots whose cleanup is pending. The key attribute names come from the
 * ledger module (`lambdas/common/ledger/keys.ts`), the only code that builds keys.
 *
 * - On-demand capacity: a rollout writes in bursts (thousands of hosts), then nothing.
 * - Point-in-time recovery and RETAIN: losing a job snapshot would leave an old
 *   release on a host forever, or worse, let it go while its jobs still run.
 * - Encrypted with the AWS managed key (`aws/dynamodb`): every use of the key is in
 *   CloudTrail, and no key policy or key lifecycle can lock the cleanup out of its
 *   own data. A customer managed key adds nothing here: the table is never shared
 *   across accounts and all its readers are this stack's functions.
 */
export class LedgerTable extends Construct {
  /** The table. */
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: LedgerTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, "Table", {
      partitionKey: { name: TABLE_KEY.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEY.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: CLEANUP_INDEX_NAME,
      partitionKey: { name: CLEANUP_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: CLEANUP_INDEX.sortKey, type: AttributeType.STRING },
      // The cleanup reads the whole snapshot item from the index.
      projectionType: ProjectionType.ALL,
    });
  }

  /**
   * Grants exactly `actions` on the table's items (not on its indexes). Unlike
   * `grantReadWriteData`, a function gets only what it calls.
   */
  public grant(grantee: IGrantable, ...actions: LedgerAction[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions, resources: [this.table.tableArn] }),
    );
  }

  /** Grants `dynamodb:Query` on the pending-cleanup index only. */
  public grantQueryCleanupIndex(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["dynamodb:Query"],
        resources: [`${this.table.tableArn}/index/${CLEANUP_INDEX_NAME}`],
      }),
    );
  }
}
