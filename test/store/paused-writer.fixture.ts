// Child process of the paused-writer test: opens a transaction that takes the writers' lock and
// writes a row, says `in`, then blocks (as a SIGSTOPped process would) for `holdMs` before
// committing.

import { openStore } from '../../store/index.ts';
import { spec } from './helpers.ts';

const [url, holdMs] = process.argv.slice(2) as [string, string];
const store = openStore(url);
try {
  store.transaction(() => {
    store.services.upsert({ name: 'paused', spec: spec('paused'), hash: 'h', source: 'api' });
    process.stdout.write('in\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(holdMs));
  });
  process.stdout.write('committed\n');
} catch (error) {
  process.stdout.write(`refused: ${(error as Error).message}\n`);
}
store.close();
