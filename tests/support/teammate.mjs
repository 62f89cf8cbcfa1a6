// A teammate using the official Turso sync client (@tursodatabase/sync), for interop tests and the demo.
//   node teammate.mjs DBPATH URL STEP [STEP ...]
// Steps run in order: "pull", "push", "exec:<SQL>", "query:<SQL>" (prints the rows as one JSON line).
import { connect } from '@tursodatabase/sync';

const [path, url, ...steps] = process.argv.slice(2);
const db = await connect({ path, url, clientName: 'teammate' });
for (const step of steps) {
  if (step === 'pull') {
    await db.pull();
  } else if (step === 'push') {
    await db.push();
  } else if (step.startsWith('exec:')) {
    await db.exec(step.slice(5));
  } else if (step.startsWith('query:')) {
    const rows = await (await db.prepare(step.slice(6))).all();
    console.log(JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
  } else {
    console.error(`teammate: unknown step ${step}`);
    process.exit(2);
  }
}
await db.close();
