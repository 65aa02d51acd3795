declare module "dynalite" {
  import type { Server } from "node:http";

  /** Options of dynalite (https://github.com/architect/dynalite). */
  interface DynaliteOptions {
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
  }

  function dynalite(options?: DynaliteOptions): Server;
  export default dynalite;
}
