import type { AddressInfo } from "node:net";
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import dynalite from "dynalite";

/** A DynamoDB stand-in on 127.0.0.1, reached through the real AWS SDK. */
export interface LocalDynamo {
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite on a free loopback port. With `path`, the data lives in that
 * directory (LevelDB) and survives the process, so `cleanup` can run later against
 * the ledger a rollout left behind; without it, the data is in memory.
 */
export async function startLocalDynamo(path?: string): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      }),
  };
}

/**
 * Creates the ledger table from the key schema, attributes and indexes of the
 * synthesized `AWS::DynamoDB::Table`, so local mode uses the table CDK deploys.
 * An existing table (a kept work directory) is left as it is.
 */
export async function createTableFromTemplate(
  endpoint: string,
  tableName: string,
  properties: Record<string, unknown>,
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const input: CreateTableCommandInput = {
    TableName: tableName,
    KeySchema: properties.KeySchema as CreateTableCommandInput["KeySchema"],
    AttributeDefinitions:
      properties.AttributeDefinitions as CreateTableCommandInput["AttributeDefinitions"],
    GlobalSecondaryIndexes:
      properties.GlobalSecondaryIndexes as CreateTableCommandInput["GlobalSecondaryIndexes"],
    BillingMode: "PAY_PER_REQUEST",
  };
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if ((error as Error).name !== "ResourceInUseException") throw error;
  } finally {
    client.destroy();
  }
}
