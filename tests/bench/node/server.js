'use strict';
// The Node stack that tests/bench/http_bench.sh compares the demo server (examples/demo_server/) with:
// koa 3 + koa-generic-session + koa-redis (ioredis), all at their defaults
// (signed cookie, JSON in one Redis string per session, write only on change).
//   node server.js --redis redis://HOST:PORT --listen 127.0.0.1:0 [--workers N]
// Prints "node_koa listening on http://HOST:PORT" like the C++ servers.
// Routes: GET /plain, GET /session (the session as JSON), GET /count (increments).
const cluster = require('node:cluster');
const Koa = require('koa');
const session = require('koa-generic-session');
const redisStore = require('koa-redis');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const redisUrl = new URL(option('--redis', 'redis://127.0.0.1:6379'));
const [host, port] = option('--listen', '127.0.0.1:8082').split(':');
const workers = Number(option('--workers', '1'));

function serve(listenPort, onListening) {
  const app = new Koa();
  app.keys = ['http-bench-not-a-secret'];
  app.use(session({
    store: redisStore({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) }),
  }));
  app.use(async (ctx) => {
    if (ctx.path === '/plain') {
      ctx.body = 'ok';
    } else if (ctx.path === '/session') {
      ctx.body = ctx.session;
    } else if (ctx.path === '/count') {
      ctx.session.count = (ctx.session.count || 0) + 1;
      ctx.body = String(ctx.session.count);
    } else {
      ctx.status = 404;
    }
  });
  const server = app.listen(Number(listenPort), host, () => onListening(server.address().port));
}

if (workers <= 1) {
  serve(port, (p) => console.log(`node_koa listening on http://${host}:${p} (1 process)`));
} else if (cluster.isPrimary) {
  // Workers share one port: the primary picks a free one first.
  const probe = require('node:net').createServer().listen(Number(port), host, () => {
    const chosen = probe.address().port;
    probe.close(() => {
      let ready = 0;
      for (let i = 0; i < workers; ++i) {
        cluster.fork({ BENCH_PORT: String(chosen) }).on('message', () => {
          if (++ready === workers) console.log(`node_koa listening on http://${host}:${chosen} (${workers} processes)`);
        });
      }
    });
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      for (const w of Object.values(cluster.workers)) w.kill();
      process.exit(0);
    });
  }
} else {
  serve(process.env.BENCH_PORT, () => process.send('ready'));
}
