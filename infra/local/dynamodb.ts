import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { TABLE_KEY, type TableSpec, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../functions/catalog.js';

const TABLES = tablesOf(PILLARS);

/**
 * The DynamoDB stand-in: dynalite in this process, speaking the DynamoDB API on a loopback port.
 * With `path` the data lives on disk (LevelDB) and survives a restart; without it, in memory.
 * Dynalite has no TTL expiry, transactions or streams; Conductor's code uses none of them.
 */
export interface LocalDynamo {
  readonly endpoint: string;
  /** dynalite's HTTP server (the in-process transport serves its request listener). */
  readonly server: Server;
  close(): Promise<void>;
}

export const localTableName = (spec: TableSpec): string => `conductor-${spec.id}`;

export const startLocalDynamo = async (options: { path?: string | undefined }): Promise<LocalDynamo> => {
  const server: Server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
};

/** Creates the pillar tables as the CDK stateful stack defines them; existing tables are kept. */
export const ensureTables = async (endpoint: string, tables: readonly TableSpec[]): Promise<void> => {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    for (const spec of tables) {
      try {
        await client.send(
          new CreateTableCommand({
            TableName: localTableName(spec),
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: TABLE_KEY.partitionKey, AttributeType: 'S' },
              { AttributeName: TABLE_KEY.sortKey, AttributeType: 'S' },
            ],
            KeySchema: [
              { AttributeName: TABLE_KEY.partitionKey, KeyType: 'HASH' },
              { AttributeName: TABLE_KEY.sortKey, KeyType: 'RANGE' },
            ],
          }),
        );
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
    // dynalite answers CreateTable with the table CREATING and makes it ACTIVE a moment later (even at
    // createTableMs 0): until then an item call gets ResourceNotFoundException, so wait for ACTIVE.
    for (const spec of tables) {
      for (let attempt = 0; ; attempt += 1) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: localTableName(spec) }));
        if (Table?.TableStatus === 'ACTIVE') break;
        if (attempt >= 200) throw new Error(`table ${localTableName(spec)} never became ACTIVE`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  } finally {
    client.destroy();
  }
};

/** For tests: dynalite in memory with every pillar table, and a document client on it. */
export interface TestDynamo {
  readonly endpoint: string;
  readonly doc: DynamoDBDocumentClient;
  close(): Promise<void>;
}

export const startTestDynamo = async (): Promise<TestDynamo> => {
  const local = await startLocalDynamo({});
  await ensureTables(local.endpoint, TABLES);
  const doc = makeDocumentClient({ region: 'us-east-1', endpoint: local.endpoint });
  return {
    endpoint: local.endpoint,
    doc,
    close: async () => {
      doc.destroy();
      await local.close();
    },
  };
};
