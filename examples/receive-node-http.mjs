// A consumer on plain node:http: `node examples/receive-node-http.mjs`, then subscribe
// http://127.0.0.1:3000/ (PORT changes the port). Prints one JSON line per event received.
import { createServer } from 'node:http';
import { createNodeHandler } from 'herald/receive';

const handler = createNodeHandler((delivery) => {
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

const server = createServer(handler).listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
