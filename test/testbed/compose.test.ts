// Docker cannot run here: check docker-compose.p2p.yml's structure, that every flnode option it
// (and its entry script) uses exists in the CLI, and run the entry script's init step and the node
// step (dry run) locally against the real CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = process.cwd();
const flnode = join(root, 'bin', 'flnode.mjs');
const cli = (...args: string[]) => execFileSync(process.execPath, [flnode, ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

interface Service {
  build?: unknown;
  image?: string;
  entrypoint?: string[];
  command?: string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

/** Long options a command's --help lists. */
function optionsOf(...cmd: string[]): Set<string> {
  return new Set([...cli(...cmd, '--help').matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
}

/** `flnode <cmd...> --opt` uses in the entry script, as [command words, options]. */
function scriptUses(script: string): { cmd: string[]; opts: string[] }[] {
  const uses: { cmd: string[]; opts: string[] }[] = [];
  for (const line of script.replace(/\\\n/g, ' ').split('\n')) {
    const m = /\$FLNODE\s+([a-z-]+)(?:\s+([a-z-]+))?\s+(.*)$/.exec(line);
    if (!m) continue;
    const cmd = m[1] === 'consortium' ? [m[1], m[2]!] : [m[1]!];
    uses.push({ cmd, opts: [...(m[3] ?? '').matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)].map((x) => x[1]!) });
  }
  return uses;
}

describe('docker-compose.p2p.yml', function () {
  this.timeout(90_000);
  const compose = parse(readFileSync(join(root, 'docker-compose.p2p.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> }; // merge: the x-node anchor
  const script = readFileSync(join(root, 'scripts', 'compose-init.sh'), 'utf8');
  const nodes = Object.entries(compose.services).filter(([, s]) => s.command?.[0] === 'node');

  it('has an init service and three node services that wait for it', () => {
    assert.ok(compose.services.init, 'init service');
    assert.deepEqual(compose.services.init!.command, ['init']);
    assert.equal(nodes.length, 3);
    for (const [name, s] of nodes) {
      assert.equal(s.depends_on?.init?.condition, 'service_completed_successfully', `${name} waits for init`);
      assert.deepEqual(s.entrypoint, ['/bin/sh', '/app/scripts/compose-init.sh'], `${name} entry script`);
      assert.equal(s.command![1], name, `${name} passes its own service name (peers file key)`);
    }
  });

  it('gives each node a distinct loopback host port, its own site volume, a distinct site index and the data', () => {
    const hostPorts = new Set<string>();
    const siteVolumes = new Set<string>();
    const indices = new Set<string>();
    for (const [name, s] of nodes) {
      assert.equal(s.ports?.length, 1, `${name} ports`);
      const [host, hostPort, containerPort] = s.ports![0]!.split(':');
      assert.equal(host, '127.0.0.1', `${name} status page bound to loopback`);
      assert.equal(containerPort, '8600');
      hostPorts.add(hostPort!);
      const vols = s.volumes ?? [];
      const site = vols.find((v) => v.endsWith(':/site'));
      assert.ok(site, `${name} mounts a site volume`);
      siteVolumes.add(site.split(':')[0]!);
      assert.ok(compose.volumes[site.split(':')[0]!] !== undefined, `${name}: volume declared`);
      assert.ok(vols.includes('consortium:/consortium:ro'), `${name} reads the shared manifest read-only`);
      assert.ok(vols.some((v) => v.split(':')[1] === '/data'), `${name} mounts the data`);
      assert.ok(!vols.some((v) => v.startsWith('admin:')), `${name} must not see the admin key`);
      indices.add(s.command![2]!);
    }
    assert.deepEqual([...hostPorts].sort(), ['8601', '8602', '8603']);
    assert.equal(siteVolumes.size, 3);
    assert.deepEqual([...indices].sort(), ['0', '1', '2']);
    // the init service writes into exactly those volumes
    const initVols = compose.services.init!.volumes!.map((v) => v.split(':')[0]);
    for (const v of siteVolumes) assert.ok(initVols.includes(v), `init writes ${v}`);
  });

  it('uses only flnode options the CLI has', () => {
    const uses = scriptUses(script);
    assert.ok(uses.length >= 5, `found ${uses.length} flnode calls in the entry script`);
    assert.ok(uses.some((u) => u.cmd[0] === 'start' && u.opts.includes('--sites') && u.opts.includes('--site')));
    for (const u of uses) {
      const known = optionsOf(...u.cmd);
      for (const o of u.opts) assert.ok(known.has(o), `flnode ${u.cmd.join(' ')} has no option ${o}`);
    }
    const startOpts = optionsOf('start');
    for (const [name, s] of nodes) for (const o of s.command!.slice(3).filter((a) => a.startsWith('--'))) assert.ok(startOpts.has(o), `${name}: flnode start has no ${o}`);
  });

  it('the Dockerfile runs the CLI on Node 22 after npm ci', () => {
    const df = readFileSync(join(root, 'Dockerfile'), 'utf8');
    assert.match(df, /^FROM node:22-slim/m);
    assert.match(df, /^RUN npm ci/m);
    assert.match(df, /^ENTRYPOINT \["node", "bin\/flnode\.mjs"\]/m);
    assert.match(df, /compose-init\.sh/);
  });

  it('the entry script creates 3 identities and a valid signed manifest; each node dials the other two by service name', () => {
    const t = mkdtempSync(join(tmpdir(), 'flnode-compose-'));
    try {
      const env = { ...process.env, FLNODE_CMD: `${process.execPath} ${flnode}`, FLNODE_SHARED: join(t, 'consortium'), FLNODE_SITES_ROOT: join(t, 'sites'), FLNODE_ADMIN_KEY: join(t, 'admin', 'admin.key'), FLNODE_WAIT_S: '1' };
      execFileSync('mkdir', ['-p', env.FLNODE_SHARED, join(t, 'admin')]);
      execFileSync('sh', [join(root, 'scripts', 'compose-init.sh'), 'init'], { env, stdio: 'pipe' });
      const verify = cli('consortium', 'verify', '--manifest', join(env.FLNODE_SHARED, 'manifest.json'));
      assert.match(verify, /valid, consortium compose-p2p, 3 members/);
      const peers = readFileSync(join(env.FLNODE_SHARED, 'peers'), 'utf8').trim().split('\n').map((l) => l.split(' '));
      assert.deepEqual(peers.map((p) => p[0]), ['node-a', 'node-b', 'node-c']);
      const manifest = JSON.parse(readFileSync(join(env.FLNODE_SHARED, 'manifest.json'), 'utf8')) as { members: { name: string; peerId: string }[] };
      assert.deepEqual(manifest.members.map((m) => [m.name, m.peerId]), peers);
      for (const [name, s] of nodes) {
        const line = execFileSync('sh', [join(root, 'scripts', 'compose-init.sh'), ...s.command!], { env: { ...env, FLNODE_DRY_RUN: '1' }, encoding: 'utf8' });
        const others = peers.filter((p) => p[0] !== name).map(([n, id]) => `/dns4/${n}/tcp/4001/p2p/${id}`);
        assert.ok(line.includes(`--peers ${others.join(',')}`), `${name}: ${line}`);
        assert.ok(line.includes(`--sites 3 --site ${s.command![2]}`), line);
      }
      // idempotent: a second init keeps the consortium
      execFileSync('sh', [join(root, 'scripts', 'compose-init.sh'), 'init'], { env, stdio: 'pipe' });
      assert.equal(readFileSync(join(env.FLNODE_SHARED, 'peers'), 'utf8').trim().split('\n').length, 3);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
});
