// Child process for the cross-process claim test: waits for the go file, then claims tasks from
// the shared database until none are left and prints the ids it won as JSON.

import { existsSync } from 'node:fs';
import { openStore } from '../../store/index.ts';

const [file, agentId, goFile] = process.argv.slice(2) as [string, string, string];
const store = openStore(file);
process.stdout.write('ready\n');
const deadline = Date.now() + 20_000;
while (!existsSync(goFile)) {
  if (Date.now() > deadline) process.exit(2);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
}
const won: string[] = [];
for (let i = 0; i < 100_000; i++) {
  const task = store.tasks.claim(agentId, Date.now(), 60_000);
  if (task === null) break;
  won.push(task.id);
}
store.close();
process.stdout.write(`${JSON.stringify(won)}\n`);
