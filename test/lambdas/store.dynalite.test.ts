/**
 * The ledger store against dynalite (a DynamoDB implementation on 127.0.0.1), through
 * the real SDK clients: the shared contract (the condition and update expressions are
 * valid DynamoDB and do what the handlers rely on), then the items as stored.
 */
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import {
  type AttributeValue,
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createDocumentClient } from "../../lambdas/common/clients.js";
import { DynamoLedgerStore } from "../../lambdas/common/ledger/index.js";
import { I1, jobs, ROLLOUT_ID, storedInput, T0 } from "./helpers.js";
import { ledgerContract } from "./ledger-contract.js";

const require = createRequire(import.meta.url);
const dynalite = require("dynalite") as (options: { createTableMs: number }) => Server;

let server: Server;
let endpoint: string;
let tableCounter = 0;

beforeAll(async () => {
  vi.stubEnv("AWS_ACCESS_KEY_ID", "local");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "local");
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A fresh table per test keeps tests independent. */
async function freshTable(): Promise<{
  ledger: DynamoLedgerStore;
  document: DynamoDBDocumentClient;
  client: DynamoDBClient;
  tableName: string;
}> {
  const tableName = `ledger-${++tableCounter}`;
  const client = new DynamoDBClient({ endpoint, region: "us-east-1" });
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: "gsi1pk", AttributeType: "S" },
        { AttributeName: "gsi1sk", AttributeType: "S" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: "gsi1",
          KeySchema: [
            { AttributeName: "gsi1pk", KeyType: "HASH" },
            { AttributeName: "gsi1sk", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    }),
  );
  const document = createDocumentClient({ endpoint, region: "us-east-1" });
  return {
    ledger: new DynamoLedgerStore({ client: document, tableName }),
    document,
    client,
    tableName,
  };
}

/**
 * An attribute value of any JSON value, map keys taken as they are: the document
 * client's marshaller cannot write a map with a `__proto__` or `constructor` key,
 * which is exactly what the corrupt-item tests need to store.
 */
function attribute(value: unknown): AttributeValue {
  if (typeof value === "string") return { S: value };
  if (typeof value === "number") return { N: String(value) };
  if (typeof value === "boolean") return { BOOL: value };
  if (value === null || value === undefined) return { NULL: true };
  if (Array.isArray(value)) return { L: value.map(attribute) };
  const map: Record<string, AttributeValue> = {};
  for (const [key, field] of Object.entries(value)) {
    Object.defineProperty(map, key, { value: attribute(field), enumerable: true });
  }
  return { M: map };
}

ledgerContract("DynamoLedgerStore on dynalite", async () => {
  const { ledger, client, tableName } = await freshTable();
  return {
    store: ledger,
    seed: async (item) => {
      const Item = (attribute(item) as { M: Record<string, AttributeValue> }).M;
      await client.send(new PutItemCommand({ TableName: tableName, Item }));
    },
  };
});

describe("items as DynamoDB stores them", () => {
  it("writes a 2,500-job snapshot as 3 chunk items before the snapshot item, in the sparse index while pending", async () => {
    // Prepare
    const { ledger, document, tableName } = await freshTable();
    const many = jobs(2500);

    // Act
    await ledger.putSnapshot({
      hostId: I1,
      rolloutId: ROLLOUT_ID,
      instanceId: I1,
      profile: "demo",
      oldVersion: "1.0.0",
      oldRelease: "/opt/agent/releases/1.0.0",
      jobs: many.items,
      jobsSha256: many.sha256,
      now: T0,
    });
    const stored = await document.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": `HOST#${I1}` },
      }),
    );
    const pending = await document.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: "gsi1",
        KeyConditionExpression: "gsi1pk = :pending",
        ExpressionAttributeValues: { ":pending": "CLEANUP#PENDING" },
      }),
    );
    await ledger.completeCleanup({
      hostId: I1,
      rolloutId: ROLLOUT_ID,
      result: { status: "DELETED" },
      now: T0,
    });
    const done = await document.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: `HOST#${I1}`, sk: `SNAPSHOT#${ROLLOUT_ID}` },
      }),
    );

    // Assess
    const items = stored.Items ?? [];
    expect(items.map((item) => [item.sk, item.kind, item.jobs?.length])).toEqual([
      [`SNAPSHOT#${ROLLOUT_ID}`, "snapshot", undefined],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0000`, "snapshot-chunk", 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0001`, "snapshot-chunk", 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0002`, "snapshot-chunk", 500],
    ]);
    expect(items.flatMap((item) => item.jobs ?? [])).toEqual(many.items);
    expect(items[3]).toMatchObject({ schemaVersion: 1, rolloutId: ROLLOUT_ID, index: 2 });
    expect(pending.Items).toEqual([
      expect.objectContaining({
        gsi1pk: "CLEANUP#PENDING",
        gsi1sk: `${new Date(T0).toISOString()}#${I1}`,
        chunkCount: 3,
      }),
    ]);
    expect(done.Item).toMatchObject({ cleanup: "DONE" });
    expect(done.Item?.gsi1pk).toBeUndefined();
    expect(done.Item?.gsi1sk).toBeUndefined();
  });

  it("keys a rollout and its hosts under the rollout's partition, hosts by wave", async () => {
    // Prepare
    const { ledger, document, tableName } = await freshTable();

    // Act
    await ledger.createRollout({
      rolloutId: ROLLOUT_ID,
      input: storedInput(),
      hostCount: 1,
      waveCount: 13,
      now: T0,
    });
    await ledger.putHosts(ROLLOUT_ID, [{ hostId: I1, instanceId: I1, wave: 12, order: 0 }], T0);
    const stored = await document.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": `ROLLOUT#${ROLLOUT_ID}` },
      }),
    );

    // Assess
    expect(stored.Items?.map((item) => [item.sk, item.kind, item.schemaVersion])).toEqual([
      [`HOST#0012#${I1}`, "host", 1],
      ["ROLLOUT", "rollout", 1],
    ]);
  });
});
