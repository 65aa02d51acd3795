/** The in-memory ledger store the domain tests use, held to the shared contract. */
import { ledgerContract } from "./ledger-contract.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

ledgerContract("MemoryLedgerStore", async () => {
  const store = new MemoryLedgerStore();
  return { store, seed: async (item) => store.putItem(item) };
});
