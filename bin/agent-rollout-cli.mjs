#!/usr/bin/env node
// `npx agent-rollout`: runs the TypeScript CLI (cli/main.ts) through tsx, as `npm start`
// runs local mode, so a fresh clone needs no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
process.exit(await main(process.argv.slice(2)));
