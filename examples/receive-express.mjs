// A consumer on Express: `node examples/receive-express.mjs`. Mount the receiver without
// express.json() in front of it (it needs the raw bytes: binary mode data is not always JSON).
import express from 'express';
import { createNodeHandler } from 'herald/receive';

const app = express();
app.all(
  '/events',
  createNodeHandler((delivery) => {
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
  }),
);

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
