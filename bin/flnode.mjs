#!/usr/bin/env node
// Entry point. flnode needs Node.js >= 22 (libp2p); when started by an older system Node,
// re-run under the Node 22 binary that `npm ci` installs into node_modules (npm package `node`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const local = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(local)) {
    console.error(`flnode: Node.js >= 22 is required (this is ${process.version}); run "npm ci" in ${root} first.`);
    process.exit(1);
  }
  const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const { register } = await import('tsx/esm/api');
register();
await import(join(root, 'node', 'cli', 'main.ts'));
