// The peer of the sync benchmark: the official Turso sync client (@tursodatabase/sync).
//   node bench/peer.mjs DBPATH URL STEP [STEP ...]
// Steps: "connect" (the first connect bootstraps the database), "pull", "push", "push+pull" (a push, then the
// pull that brings its pages back: what one `turso-sync push` does), "exec:<SQL>". Prints one line
// per step: "<step> <milliseconds>", measured inside the process (node's own start-up is not counted).
import { connect } from '@tursodatabase/sync';

const [path, url, ...steps] = process.argv.slice(2);
let start = performance.now();
const db = await connect({ path, url, clientName: 'bench-peer' });
console.log(`connect ${(performance.now() - start).toFixed(1)}`);
for (const step of steps) {
  start = performance.now();
  if (step === 'connect') continue;
  if (step === 'pull') await db.pull();
  else if (step === 'push') await db.push();
  else if (step === 'push+pull') {
    await db.push();
    await db.pull();
  }
  else if (step.startsWith('exec:')) await db.exec(step.slice(5));
  else {
    console.error(`peer: unknown step ${step}`);
    process.exit(2);
  }
  console.log(`${step.startsWith('exec:') ? 'exec' : step} ${(performance.now() - start).toFixed(1)}`);
}
await db.close();
