import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from "@aws-sdk/lib-dynamodb";

/** Where the local ledger is. */
export interface LedgerLocation {
  readonly endpoint: string;
  readonly tableName: string;
}

/** A host record as the report needs it. */
export interface LedgerHost {
  hostId: string;
  wave: number;
  status: string;
  fromVersion?: string;
  toVersion?: string;
  suspendMs?: number;
  listenerGapMs?: number;
  error?: string;
}

/** A job snapshot as the report needs it. */
export interface LedgerSnapshot {
  hostId: string;
  rolloutId: string;
  oldVersion: string;
  jobCount: number;
  cleanup: string;
}

/** Read-only view of one rollout in the ledger, for progress and the report. */
export interface LedgerView {
  rollout?: { status: string; error?: string; failedCount?: number };
  hosts: LedgerHost[];
  snapshots: LedgerSnapshot[];
}

const clients = new Map<string, DynamoDBDocumentClient>();

function documentClient(endpoint: string): DynamoDBDocumentClient {
  let client = clients.get(endpoint);
  if (!client) {
    client = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "local", secretAccessKey: "local" },
      }),
    );
    clients.set(endpoint, client);
  }
  return client;
}

async function queryAll(client: DynamoDBDocumentClient, input: QueryCommandInput) {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: QueryCommandInput["ExclusiveStartKey"];
  do {
    const page = await client.send(new QueryCommand({ ...input, ExclusiveStartKey }));
    items.push(...((page.Items ?? []) as Record<string, unknown>[]));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

/** Reads the rollout item, its host items and the snapshots it recorded. */
export async function readLedger(where: LedgerLocation, rolloutId: string): Promise<LedgerView> {
  const client = documentClient(where.endpoint);
  const items = await queryAll(client, {
    TableName: where.tableName,
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": `ROLLOUT#${rolloutId}` },
  });
  const view: LedgerView = { hosts: [], snapshots: [] };
  for (const item of items) {
    if (item.kind === "rollout") {
      view.rollout = {
        status: String(item.status),
        error: typeof item.error === "string" ? item.error : errorText(item.error),
        failedCount: typeof item.failedCount === "number" ? item.failedCount : undefined,
      };
    } else if (item.kind === "host") {
      view.hosts.push({
        hostId: String(item.hostId),
        wave: Number(item.wave),
        status: String(item.status),
        fromVersion: optionalString(item.fromVersion),
        toVersion: optionalString(item.toVersion),
        suspendMs: optionalNumber(item.suspendMs),
        listenerGapMs: optionalNumber(item.listenerGapMs),
        error: typeof item.error === "string" ? item.error : errorText(item.error),
      });
    }
  }
  for (const host of view.hosts) {
    const snapshots = await queryAll(client, {
      TableName: where.tableName,
      KeyConditionExpression: "pk = :pk AND sk = :sk",
      ExpressionAttributeValues: { ":pk": `HOST#${host.hostId}`, ":sk": `SNAPSHOT#${rolloutId}` },
    });
    for (const s of snapshots) {
      view.snapshots.push({
        hostId: host.hostId,
        rolloutId,
        oldVersion: String(s.oldVersion),
        jobCount: Number(s.jobCount ?? 0),
        cleanup: String(s.cleanup),
      });
    }
  }
  return view;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function errorText(value: unknown): string | undefined {
  if (value && typeof value === "object") {
    const { name, message } = value as { name?: unknown; message?: unknown };
    if (typeof message === "string")
      return typeof name === "string" ? `${name}: ${message}` : message;
    return JSON.stringify(value);
  }
  return undefined;
}
