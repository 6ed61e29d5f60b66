// `herald deadletters redrive --wait` with more dead letters than one page of the dead-letter API (at most
// 10,000): it must wait for every letter it redrove, not only those of the first page. The last letter
// (past the first page) is held at the sink; the command may not return while it is held.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerProcess, SinkProcess } from '../harness/processes.js';
import { removeDir, startBroker, startSink } from '../harness/processes.js';
import { requestJson, sleep, waitForStatus } from '../harness/client.js';
import { DEAD_LETTER_PAGE, deadLettersPastOnePage } from '../harness/dead-letter-pages.js';
import type { JsonResponse } from '../harness/client.js';
import { runCli } from './run-cli.js';
import type { CliExit } from './run-cli.js';

const PAGE = DEAD_LETTER_PAGE;
const TYPE = 'com.example.redrive.pages';

interface Letter {
  id: string;
  event: { id: string };
}

/** Every dead letter of `subscription`, following the API's `Link: rel="next"` pages. */
async function allLetters(broker: BrokerProcess, subscription: string): Promise<Letter[]> {
  const letters: Letter[] = [];
  for (let next: string | undefined = `/subscriptions/${subscription}/deadletters?limit=${PAGE}`; next;) {
    const page: JsonResponse<{ deadLetters: Letter[] }> = await requestJson('GET', `${broker.url}${next}`);
    expect(page.status).toBe(200);
    letters.push(...page.body.deadLetters);
    next = /<([^>]+)>;\s*rel="next"/.exec(page.headers.get('link') ?? '')?.[1];
  }
  return letters;
}

describe('herald deadletters redrive --wait over more than one page', () => {
  let broker: BrokerProcess;
  let sink: SinkProcess;

  beforeAll(async () => {
    // Kept without bound: the default (10,000 per subscription) is exactly one page.
    [broker, sink] = await Promise.all([
      startBroker({ args: ['--dead-letter-max-letters', '0'] }),
      startSink(),
    ]);
  });
  afterAll(async () => {
    await sink?.release();
    await Promise.all([broker?.stop(), sink?.stop()]);
    if (broker !== undefined) removeDir(broker.dataDir);
  });

  it('waits for the letters past the first page too', { timeout: 600_000 }, async () => {
    const subscription = await deadLettersPastOnePage(broker, sink, TYPE);
    const before = await allLetters(broker, subscription.id);
    expect(before).toHaveLength(PAGE + 1);
    const late = before.find((l) => l.event.id === 'late')!;
    expect(before.indexOf(late)).toBe(PAGE);

    // Every letter is delivered now, but the late one is held at the sink until released.
    await sink.configure({ status: 200, holdFirstById: ['late'] });
    let exit: CliExit | undefined;
    let released = false;
    let exitedWhileHeld = false;
    const command = runCli(
      ['deadletters', 'redrive', subscription.id, '--wait', '--url', broker.url, '-o', 'json'],
      { timeoutMs: 540_000 },
    ).then((done) => {
      exit = done;
      exitedWhileHeld = !released;
      return done;
    });

    // Once only the held letter is left, give the command a while to return (wrongly) before releasing it.
    await waitForStatus(broker.url, subscription.id, (s) => s.deadLettered === 1, 480_000);
    expect((await allLetters(broker, subscription.id)).map((l) => l.id)).toEqual([late.id]);
    for (let i = 0; i < 50 && exit === undefined; i++) await sleep(200);
    released = true;
    await sink.release();

    const done = await command;
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ subscription: subscription.id, redriving: PAGE + 1 });
    expect(exitedWhileHeld, 'the command returned while a redriven letter was still held').toBe(false);
    expect(await allLetters(broker, subscription.id)).toEqual([]);
  });
});
