import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Another process holding SQLite's write lock on the database `file` (`BEGIN IMMEDIATE`), as a backup
 * tool or a second broker pointed at the same directory would. Resolves once the lock is held; the
 * returned `release` ends the transaction and the process (and resolves when it has exited).
 */
export async function lockDatabase(file: string): Promise<() => Promise<void>> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    console.log('locked');
    process.stdin.on('end', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
    process.stdin.resume();`;
  const locker = spawn(process.execPath, ['-e', script, file], {
    // Where better-sqlite3 resolves from: the repository's root.
    cwd: path.resolve(import.meta.dirname, '../../../..'),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => locker.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: locker.stdout }).on('line', (line) => {
      if (line === 'locked') resolve();
    });
    locker.once('exit', (code) => reject(new Error(`the locking process exited with ${code}`)));
  });
  let released: Promise<void> | undefined;
  return () => {
    locker.stdin.end();
    return (released ??= exited);
  };
}
