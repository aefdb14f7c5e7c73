// Child process of the paused-writer tests: opens a transaction that takes the writers' lock and
// writes a row, says `in`, then blocks (as a SIGSTOPped process would) for `holdMs` before
// committing. With `write-after` it writes a second row after the pause, before committing.

import { openStore } from '../../store/index.ts';
import { spec } from './helpers.ts';

const [url, holdMs, mode, name = 'paused'] = process.argv.slice(2) as [string, string, string | undefined, string | undefined];
const store = openStore(url);
try {
  store.transaction(() => {
    store.services.upsert({ name, spec: spec(name), hash: 'h', source: 'api' });
    process.stdout.write('in\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(holdMs));
    if (mode === 'write-after') store.services.upsert({ name: `${name}-after`, spec: spec(`${name}-after`), hash: 'h', source: 'api' });
  });
  process.stdout.write('committed\n');
} catch (error) {
  process.stdout.write(`refused: ${(error as Error).message}\n`);
}
store.close();
