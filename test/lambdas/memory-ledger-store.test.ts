/** The in-memory ledger store the domain tests use, held to the shared contract. */

import { describe, expect, it } from "vitest";
import { ROLLOUT_ID, rolloutItem } from "./helpers.js";
import { ledgerContract } from "./ledger-contract.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

ledgerContract("MemoryLedgerStore", async () => {
  const store = new MemoryLedgerStore();
  return { store, seed: async (item) => store.putItem(item) };
});

describe("MemoryLedgerStore: prototype keys", () => {
  it("refuses a rollout whose counts carry an own __proto__ key, naming its key", async () => {
    // Prepare
    const store = new MemoryLedgerStore();
    store.putItem({
      ...rolloutItem({ status: "SUCCEEDED" }),
      counts: JSON.parse('{"__proto__":{"UPGRADED":9},"FAILED":1}'),
    });

    // Act
    const result = store.getRollout(ROLLOUT_ID);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidLedgerItemError",
      message: `ledger item ROLLOUT#${ROLLOUT_ID} ROLLOUT: counts: carries a reserved key (__proto__, constructor, prototype)`,
    });
  });
});
