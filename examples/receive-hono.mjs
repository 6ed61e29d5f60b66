// A consumer on Hono (Web Request/Response), served by @hono/node-server:
// `node examples/receive-hono.mjs`.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createFetchHandler } from 'herald/receive';

const handle = createFetchHandler((delivery) => {
  for (const event of delivery.events) {
    console.log(
      JSON.stringify({
        subscription: delivery.subscription,
        sequence: delivery.sequence,
        attempt: delivery.attempt,
        mode: delivery.mode,
        id: event.id,
        type: event.type,
        data: event.data,
      }),
    );
  }
});

const app = new Hono();
app.on(['POST', 'OPTIONS'], '/events', (c) => handle(c.req.raw));

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ listening: info.port }));
});
