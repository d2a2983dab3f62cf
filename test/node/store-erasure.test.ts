// Erasure on disk: a LevelDB delete leaves the old bytes in its files, so round data are stored
// encrypted under a per-round key file that goes with the round's last value.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../node/storage/store.ts';

const filesContain = (dir: string, needle: Buffer): string[] => readdirSync(dir).filter((f) => readFileSync(join(dir, f)).includes(needle));

describe('store: erasure reaches the disk', () => {
  it('round data never reach the database files in clear, and once the round\'s last value is deleted its key file is gone; other data are untouched', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'flnode-erasure-')), 'db');
    const store = new Store(dir);
    await store.open();
    const secret = randomBytes(48);
    const kept = randomBytes(48);
    await store.putBytes('round/00000001/secrets/0000', secret);
    await store.put('round/00000001/state', { s: secret.toString('hex') });
    await store.putBytes('model/00000001', kept);
    await store.close();
    const again = new Store(dir);
    await again.open();
    assert.deepEqual(Buffer.from((await again.getBytes('round/00000001/secrets/0000'))!), secret, 'round data read back after a restart');
    assert.deepEqual(filesContain(dir, secret), [], 'a round secret in clear in the database files');
    assert.deepEqual(filesContain(dir, Buffer.from(secret.toString('hex'))), []);
    assert.ok(filesContain(dir, kept).length > 0, 'the scan finds data stored in clear (control)');
    const keyFile = join(`${dir}.round-keys`, '00000001.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    // one value of the round deleted (an equivocated cryptogram): the round goes on, its key stays
    await again.batch([{ type: 'del', key: 'round/00000001/secrets/0000' }]);
    assert.ok(existsSync(keyFile));
    assert.deepEqual(await again.get('round/00000001/state'), { s: secret.toString('hex') });
    // the last one (the commit): the key file goes, and nothing of the round can be read any more
    await again.batch([{ type: 'del', key: 'round/00000001/state' }]);
    assert.equal(existsSync(keyFile), false, 'the round key survived the erasure');
    assert.deepEqual(Buffer.from((await again.getBytes('model/00000001'))!), kept);
    await again.close();
  });
});
