// The Node peer of evapi's benchmark: the items API of plugins/items (GET
// one, POST) and /health, written the way a fastify user writes it:
// fastify with its JSON schema validation, node-postgres (pg) with a pool
// of 25 and named prepared statements, the same table (made by
// evapi --migrate). Configured like evapi: PORT, BIND_ADDRESS, DATABASE_URL.
'use strict';

const fastify = require('fastify')({ logger: false });
const { Pool, types } = require('pg');

// int8 as a JS number (ids and prices stay below 2^53).
types.setTypeParser(20, (v) => Number(v));

const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: 25,
  statement_timeout: 2000,
  connectionTimeoutMillis: 2000,
});

const COLS = 'id, name, price_cents, tags, created_at, updated_at, version';

function item(row) {
  return {
    id: row.id,
    name: row.name,
    price_cents: row.price_cents,
    tags: row.tags,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function unavailable(reply) {
  reply.code(503).header('Retry-After', '2');
  return { error: 'database unavailable', status: 503 };
}

fastify.get('/health', async () => ({ status: 'ok' }));

fastify.get('/items/:id', {
  schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,18}$' } } } },
}, async (req, reply) => {
  let res;
  try {
    res = await pool.query({ name: 'get', text: `SELECT ${COLS} FROM items WHERE id = $1`, values: [req.params.id] });
  } catch (e) {
    return unavailable(reply);
  }
  if (res.rows.length === 0) {
    reply.code(404);
    return { error: 'no such item', status: 404 };
  }
  const row = res.rows[0];
  reply.header('ETag', `"${row.id}-${row.version}"`);
  return item(row);
});

fastify.post('/items', {
  schema: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'price_cents'],
      properties: {
        name: { type: 'string', minLength: 1, maxLength: 200 },
        price_cents: { type: 'integer', minimum: 0, maximum: 9007199254740991 },
        tags: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 50 } },
      },
    },
  },
}, async (req, reply) => {
  const b = req.body;
  let res;
  try {
    res = await pool.query({
      name: 'insert',
      text: `INSERT INTO items (name, price_cents, tags) VALUES ($1, $2, $3) RETURNING ${COLS}`,
      values: [b.name, b.price_cents, b.tags || []],
    });
  } catch (e) {
    return unavailable(reply);
  }
  const row = res.rows[0];
  reply.code(201).header('Location', `/items/${row.id}`).header('ETag', `"${row.id}-${row.version}"`);
  return item(row);
});

// Schema failures as the items API answers them (422, naming the fields).
fastify.setErrorHandler((err, req, reply) => {
  if (err.validation) {
    const fields = {};
    for (const v of err.validation) {
      const f = (v.instancePath || '').replace(/^\//, '').split('/')[0] ||
        v.params.missingProperty || v.params.additionalProperty || 'body';
      fields[f] = v.message;
    }
    reply.code(err.validationContext === 'params' ? 400 : 422);
    return { error: 'invalid fields', status: reply.statusCode, fields };
  }
  reply.code(err.statusCode || 500);
  return { error: err.message, status: reply.statusCode };
});

const stop = () => fastify.close().then(() => pool.end()).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

fastify.listen({ port: Number(process.env.PORT || 8080), host: process.env.BIND_ADDRESS || '127.0.0.1' })
  .catch((e) => { console.error(e.message); process.exit(1); });
