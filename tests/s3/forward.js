// Drives a real S3 server (s3rver) with the AWS SDK and forwards its object events to sluice
// the way MinIO's webhook target sends them (MinIO docs, "Publish Events to Webhook"): one POST
// per event, {"EventName", "Key", "Records"}, the key escaped as Go's url.QueryEscape does,
// "s3:"-prefixed event names, a sequencer from the event time in nanoseconds, and
// `Authorization: Bearer <auth_token>`. POSTs go one at a time, in event order, and are retried
// until answered 2xx, as MinIO's queue store does. Prints one JSON line: what it did.
//
//   node forward.js --sluice http://127.0.0.1:PORT/s3/NAME --token T --dir DIR --objects N
'use strict';

const http = require('http');
const S3rver = require('s3rver');
const {
  S3Client, PutObjectCommand, DeleteObjectCommand,
} = require('@aws-sdk/client-s3');

function arg(name, def) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : def;
}

const target = new URL(arg('sluice'));
const token = arg('token', '');
const dir = arg('dir');
const nobjects = parseInt(arg('objects', '10'), 10);
const bucket = 'uploads';

// Go's url.QueryEscape: everything but A-Z a-z 0-9 - _ . ~ escaped, a space as '+'.
function queryEscape(s) {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

let lastNs = 0n;
function minioBody(event) {
  const rec = event.Records[0];
  let ns = BigInt(Date.now()) * 1000000n;
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  const key = rec.s3.object.key;
  const out = JSON.parse(JSON.stringify(rec));
  out.eventSource = 'minio:s3';
  out.eventName = 's3:' + rec.eventName;
  out.s3.bucket.arn = 'arn:aws:s3:::' + rec.s3.bucket.name;
  out.s3.object.key = queryEscape(key);
  out.s3.object.sequencer = ns.toString(16).toUpperCase();
  return JSON.stringify({ EventName: out.eventName, Key: rec.s3.bucket.name + '/' + key, Records: [out] });
}

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(target, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        Authorization: 'Bearer ' + token,
      },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let chain = Promise.resolve();
let forwarded = 0;
function forward(event) {
  const body = minioBody(event);
  chain = chain.then(async () => {
    for (;;) {
      const status = await post(body).catch(() => 0);
      if (status >= 200 && status < 300) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    forwarded++;
  });
}

async function main() {
  const server = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  server.on('event', forward);
  const { port } = await server.run();
  const s3 = new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const did = [];
  for (let i = 0; i < nobjects; i++) {
    // Keys with what S3 encodes: spaces, '+', '%', non-ASCII, and a folder.
    const key = `in/${i % 3}/report ${i}+v%${i}-é.txt`;
    const body = 'x'.repeat(10 + i);
    const r = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    did.push({ op: 'put', key, size: body.length, eTag: JSON.parse(r.ETag) });
    if (i % 2 === 0) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      did.push({ op: 'delete', key });
    }
  }
  await chain;
  await server.close();
  process.stdout.write(JSON.stringify({ forwarded, did }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
