import { describe, expect, it } from 'vitest';
import { OwnWrites } from './own-writes.js';
import type { HeardChange, Named } from './own-writes.js';

// The orders the watch, the answers and a relist can come in that a real apiserver shows only by
// chance (test/k8s/subscription-echoes.test.ts holds a real watch for the ones it can show at will).
// Objects are named by their resourceVersion; every change here is of the object `s`.

const state = (resourceVersion: string, uid = 'u1'): HeardChange<Named> => ({
  deleted: false,
  object: { metadata: { name: 's', resourceVersion, uid } },
});
const deletion = (resourceVersion: string, uid = 'u1'): HeardChange<Named> => ({
  deleted: true,
  object: { metadata: { name: 's', resourceVersion, uid } },
});

function recording() {
  const reported: string[] = [];
  const own = new OwnWrites<Named>((change) =>
    reported.push(`${change.deleted ? 'deleted ' : ''}${change.object.metadata.resourceVersion}`),
  );
  return { own, reported };
}

describe('OwnWrites', () => {
  it('holds what is heard while a write is under way: its echo may come before its answer', () => {
    const { own, reported } = recording();
    const first = own.begin('s');
    own.end(first, { resourceVersion: '10' });
    const second = own.begin('s');
    own.heard(state('10')); // the first write's echo, heard while the second is under way
    own.heard(state('11')); // the second's own echo, before its answer
    own.heard(state('12')); // another writer's change after it
    expect(reported).toEqual([]);
    own.end(second, { resourceVersion: '11' });
    expect(reported).toEqual(['11', '12']);
  });

  it('reports the echo of the last of two writes under way at once, whichever answers first', () => {
    const { own, reported } = recording();
    const a = own.begin('s');
    const b = own.begin('s');
    own.end(b, { resourceVersion: '21' }); // stored second, answered first
    own.end(a, { resourceVersion: '20' });
    own.heard(state('20'));
    own.heard(state('21'));
    own.heard(state('22'));
    expect(reported).toEqual(['21', '22']);
  });

  it("reports nothing of a subscription between its own delete and its own create's echo", () => {
    const { own, reported } = recording();
    own.heard(state('30'));
    const del = own.begin('s');
    own.end(del, { deletedUid: 'u1' });
    const create = own.begin('s');
    own.end(create, { resourceVersion: '33' });
    own.heard(state('31')); // an earlier change of the deleted incarnation
    own.heard(deletion('32'));
    expect(reported).toEqual(['30']);
    own.heard(state('33', 'u2'));
    own.heard(deletion('34', 'u2')); // another writer's delete, after the create
    expect(reported).toEqual(['30', '33', 'deleted 34']);
  });

  it('keeps no mark for a write a relist answered during: the snapshot may hold it', () => {
    const { own, reported } = recording();
    const write = own.begin('s');
    // The relist's snapshot has the write (40) and another writer's later change (41): the list item
    // is 41, and the watch after it will never deliver 40.
    own.relisted();
    own.heard(state('41'));
    own.end(write, { resourceVersion: '40' });
    expect(reported).toEqual(['41']);
    own.heard(state('42'));
    expect(reported).toEqual(['41', '42']);
  });

  it('keeps what was held from before a relist: the informer does not report an unchanged item again', () => {
    const { own, reported } = recording();
    const write = own.begin('s');
    own.heard(state('50')); // the write's echo, held; the relist then finds the object as it was
    own.relisted();
    own.end(write, { resourceVersion: '50' });
    expect(reported).toEqual(['50']);
    own.heard(state('51'));
    expect(reported).toEqual(['50', '51']);
  });

  it('clears the marks of finished writes at a relist: their echoes will not come', () => {
    const { own, reported } = recording();
    const write = own.begin('s');
    own.end(write, { resourceVersion: '60' });
    own.relisted();
    own.heard(state('61')); // the list's item: another writer's change after the write
    expect(reported).toEqual(['61']);
  });
});
