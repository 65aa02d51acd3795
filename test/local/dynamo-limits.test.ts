/**
 * The local DynamoDB (dynalite, plain or metered) refuses what DynamoDB refuses,
 * through the same document client the store uses. docs/aws-fidelity.md cites the
 * pages behind each rule.
 */
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalDynamo, startLocalDynamo } from "../../local/dynamo.js";

const TABLE = "limits";
/** DynamoDB's item size limit: 400 KB, with 1 KB = 1024 bytes. */
const MAX_ITEM_BYTES = 400 * 1024;

describe.each([
  { name: "dynalite", meter: false },
  { name: "metered dynalite", meter: true },
])("$name", ({ meter }) => {
  let dynamo: LocalDynamo;
  let base: DynamoDBClient;
  let doc: DynamoDBDocumentClient;

  beforeAll(async () => {
    dynamo = await startLocalDynamo(undefined, { meter });
    base = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      maxAttempts: 1,
    });
    doc = DynamoDBDocumentClient.from(base);
    await base.send(
      new CreateTableCommand({
        TableName: TABLE,
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        AttributeDefinitions: [
          { AttributeName: "pk", AttributeType: "S" },
          { AttributeName: "sk", AttributeType: "S" },
        ],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  });

  afterAll(async () => {
    base?.destroy();
    await dynamo?.close();
  });

  /** An item of exactly `bytes` bytes as DynamoDB sizes it (names plus UTF-8 values). */
  function itemOf(bytes: number, sk = "s") {
    const fixed = "pk".length + "p".length + "sk".length + sk.length + "data".length;
    return { pk: "p", sk, data: "x".repeat(bytes - fixed) };
  }

  it("accepts an item of exactly 400 KB", async () => {
    await expect(
      doc.send(new PutCommand({ TableName: TABLE, Item: itemOf(MAX_ITEM_BYTES) })),
    ).resolves.toBeDefined();
  });

  it("refuses a PutItem of an item over 400 KB with ValidationException", async () => {
    await expect(
      doc.send(new PutCommand({ TableName: TABLE, Item: itemOf(MAX_ITEM_BYTES + 1) })),
    ).rejects.toMatchObject({
      name: "ValidationException",
      message: "Item size has exceeded the maximum allowed size",
    });
  });

  it("refuses an UpdateItem that grows an item over 400 KB with ValidationException", async () => {
    await doc.send(new PutCommand({ TableName: TABLE, Item: itemOf(MAX_ITEM_BYTES - 10, "u") }));
    await expect(
      doc.send(
        new UpdateCommand({
          TableName: TABLE,
          Key: { pk: "p", sk: "u" },
          UpdateExpression: "SET extra = :v",
          ExpressionAttributeValues: { ":v": "y".repeat(20) },
        }),
      ),
    ).rejects.toMatchObject({ name: "ValidationException" });
  });

  it("refuses a BatchWriteItem item over 400 KB with ValidationException", async () => {
    await expect(
      doc.send(
        new BatchWriteCommand({
          RequestItems: { [TABLE]: [{ PutRequest: { Item: itemOf(MAX_ITEM_BYTES + 1, "b") } }] },
        }),
      ),
    ).rejects.toMatchObject({ name: "ValidationException" });
  });

  const puts = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ PutRequest: { Item: { pk: "batch", sk: `${i}` } } }));

  it("accepts a BatchWriteItem of 25 requests", async () => {
    const out = await doc.send(new BatchWriteCommand({ RequestItems: { [TABLE]: puts(25) } }));
    expect(out.UnprocessedItems ?? {}).toEqual({});
  });

  it("refuses a BatchWriteItem of 26 requests with ValidationException", async () => {
    await expect(
      doc.send(new BatchWriteCommand({ RequestItems: { [TABLE]: puts(26) } })),
    ).rejects.toMatchObject({ name: "ValidationException" });
  });
});
