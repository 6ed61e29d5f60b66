import { describe, expect, it } from 'vitest';
import type { SubscriptionResource } from './schemas.js';
import {
  ANNOTATION_STATE,
  LABEL_ORIGIN,
  definitionToResource,
  resourceToDefinition,
} from './subscription-mapping.js';

// A subscription's incarnation (its cursor's key, see src/subscriptions/cursor-key.ts) through the
// resource that holds it.
function declared(uid: string, state?: Record<string, unknown>): SubscriptionResource {
  return {
    apiVersion: 'eventing.herald.dev/v1alpha1',
    kind: 'Subscription',
    metadata: {
      name: 'orders',
      namespace: 'shop',
      uid,
      ...(state === undefined ? {} : { annotations: { [ANNOTATION_STATE]: JSON.stringify(state) } }),
    },
    spec: { broker: 'default', sink: 'http://orders.shop.svc/' },
  } as SubscriptionResource;
}

describe('subscription resources: incarnation', () => {
  it('is a declared resource’s uid, so a resource created again under its name is a new subscription', () => {
    expect(resourceToDefinition(declared('uid-1')).incarnation).toBe('uid-1');
    expect(resourceToDefinition(declared('uid-2')).incarnation).toBe('uid-2');
  });

  it('is the one the HTTP API made for a subscription it keeps as a resource, through the round trip', () => {
    // Made through the API before incarnations existed: none, so its cursor stays under its id.
    const legacy = declared('uid-1', { createdAt: 'x' });
    const labelled = { ...legacy, metadata: { ...legacy.metadata, labels: { [LABEL_ORIGIN]: 'api' } } };
    expect(resourceToDefinition(labelled).incarnation).toBeUndefined();

    const definition = resourceToDefinition(declared('uid-1', { incarnation: 'api-made', createdAt: 'x' }));
    expect(definition.incarnation).toBe('api-made');
    const resource = definitionToResource(definition, 'shop', 'default');
    expect(
      resourceToDefinition({ ...resource, metadata: { ...resource.metadata, uid: 'uid-9' } }).incarnation,
    ).toBe('api-made');
  });
});
