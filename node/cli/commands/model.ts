// `flnode model export --dir D --out PATH`: the node's current global model, tfjs layers format.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Store, bytesF32 } from '../../storage/store.ts';
import { createModel, exportLayersModel, setFlatWeights } from '../../training/model.ts';
import { initBackend } from '../../training/backend.ts';
import { loadManifest } from '../../manifest.ts';
import { DATASETS, outputCount } from '../../training/registry.ts';
import { modelKey } from '../../rounds/engine.ts';
import { UserError } from '../errors.ts';

export function register(program: Command): void {
  const m = program.command('model').description('the global model');
  m.command('export')
    .description('write the current global model as a tfjs layers model directory (model.json + weights.bin)')
    .requiredOption('--dir <dir>', 'site directory (the node must be stopped: the database is locked while it runs; use GET /api/model then)')
    .requiredOption('--manifest <file>', 'consortium manifest (for the architecture)')
    .requiredOption('--out <dir>', 'output directory')
    .action(async (o) => {
      const manifest = await loadManifest(o.manifest);
      const spec = DATASETS[manifest.model.dataset];
      if (!spec) throw new UserError(`unknown dataset ${manifest.model.dataset} in the manifest`);
      const store = new Store(join(o.dir, 'db'));
      try {
        await store.open();
      } catch (err) {
        throw new UserError((err as Error).message);
      }
      const g = await store.get<{ version: number; hash: string }>('global');
      const bytes = g ? await store.getBytes(modelKey(g.version)) : undefined;
      await store.close();
      if (!g || !bytes) throw new UserError(`no global model in ${o.dir} yet`);
      await initBackend();
      const model = createModel(spec.task, outputCount(spec), manifest.model.seed);
      setFlatWeights(model, bytesF32(bytes));
      const art = await exportLayersModel(model);
      await mkdir(o.out, { recursive: true });
      await writeFile(join(o.out, 'model.json'), art.modelJson);
      await writeFile(join(o.out, 'weights.bin'), art.weights);
      await writeFile(join(o.out, 'model-hash.txt'), `${g.hash}\nversion ${g.version}\n`);
      console.log(`${o.out}: global model v${g.version} ${g.hash}`);
    });
}
