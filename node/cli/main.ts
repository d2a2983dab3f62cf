// The `flnode` command line. Each command lives in node/cli/commands/<name>.ts and exports
// `register(program)`; add one import and one call below per command module.
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.ts';

const program = new Command();
program
  .name('flnode')
  .description('Peer-to-peer federated learning with ECC cryptogram secure aggregation')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

// -- command registrations (one line each) --
import { register as registerTrain } from './commands/train.ts';
import { register as registerData } from './commands/data.ts';
import { register as registerInit } from './commands/init.ts';
import { register as registerConsortium } from './commands/consortium.ts';
registerInit(program);
registerConsortium(program);
import { register as registerStart } from './commands/start.ts';
import { register as registerStatus } from './commands/status.ts';
import { register as registerModel } from './commands/model.ts';
registerStart(program);
registerStatus(program);
registerModel(program);
import { register as registerVoid } from './commands/void.ts';
registerVoid(program);
import { register as registerTestbed } from './commands/testbed.ts';
registerTestbed(program);
registerTrain(program);
registerData(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`flnode: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}

await main();
