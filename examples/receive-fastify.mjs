// A consumer on Fastify: `node examples/receive-fastify.mjs`. The receiver needs the raw bytes (binary
// mode data is whatever the producer sent), so Fastify's JSON and text parsers give way to one that
// keeps every body as a Buffer.
import Fastify from 'fastify';
import { receive } from 'herald/receive';

const app = Fastify();
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

app.route({
  method: ['POST', 'OPTIONS'],
  url: '/events',
  handler: async (request, reply) => {
    const answer = await receive(
      request.method,
      { headers: request.headers, body: request.body ?? '' },
      request.headers['webhook-request-origin'],
      (delivery) => {
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
      },
    );
    return reply.code(answer.status).headers(answer.headers).send(answer.body);
  },
});

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(JSON.stringify({ listening: Number(new URL(address).port) }));
