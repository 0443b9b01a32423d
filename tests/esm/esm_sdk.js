// Drives sluice's event-source-mapping API with the AWS SDK for JavaScript
// (@aws-sdk/client-lambda, pinned in package.json): the SDK signs every request (SigV4) and
// names each error from the response. Run by tests/e2e/test_esm_api_sdk.py:
//   node esm_sdk.js <endpoint> <access key id> <secret> <source arn> <other source arn>
//                   [<kafka bootstrap servers> <topic>]
// With the last two, a self-managed Kafka mapping too (SelfManagedEventSource and Topics) of
// function "kfn".
// Prints one JSON line per step; exits non-zero on the first unexpected outcome.
"use strict";
const {
  LambdaClient,
  CreateEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
} = require("@aws-sdk/client-lambda");

const [endpoint, keyId, secret, arnA, arnB, bootstrap, topic] = process.argv.slice(2);

function client(secretKey) {
  return new LambdaClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: keyId, secretAccessKey: secretKey },
    maxAttempts: 1,
  });
}

const lambda = client(secret);

function out(step, value) {
  process.stdout.write(JSON.stringify({ step, value }) + "\n");
}

function check(cond, what) {
  if (!cond) throw new Error("unexpected: " + what);
}

async function expectError(promise, name, what) {
  try {
    await promise;
  } catch (e) {
    check(e.name === name, `${what}: ${e.name} (${e.message}), want ${name}`);
    check(e.$metadata && e.$metadata.httpStatusCode > 0, `${what}: no HTTP status`);
    out(what, { name: e.name, status: e.$metadata.httpStatusCode, message: e.message });
    return;
  }
  throw new Error(`${what}: succeeded, want ${name}`);
}

async function waitState(uuid, state) {
  for (let i = 0; i < 3000; i++) {
    const m = await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    if (m.State === state) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${uuid} never reached ${state}`);
}

async function main() {
  const created = await lambda.send(
    new CreateEventSourceMappingCommand({ EventSourceArn: arnA, FunctionName: "fn", BatchSize: 7 }),
  );
  check(created.State === "Creating" && created.BatchSize === 7, "create");
  check(created.$metadata.httpStatusCode === 202, "create status");
  out("create", { uuid: created.UUID, state: created.State });
  await waitState(created.UUID, "Enabled");
  out("enabled", true);

  const second = await lambda.send(
    new CreateEventSourceMappingCommand({ EventSourceArn: arnB, FunctionName: "fn" }),
  );
  await waitState(second.UUID, "Enabled");
  const page = await lambda.send(new ListEventSourceMappingsCommand({ MaxItems: 1 }));
  check(page.EventSourceMappings.length === 1 && page.NextMarker === created.UUID, "page 1");
  const rest = await lambda.send(
    new ListEventSourceMappingsCommand({ MaxItems: 1, Marker: page.NextMarker }),
  );
  check(rest.EventSourceMappings[0].UUID === second.UUID && !rest.NextMarker, "page 2");
  out("list", [page.EventSourceMappings[0].UUID, rest.EventSourceMappings[0].UUID]);

  const updated = await lambda.send(
    new UpdateEventSourceMappingCommand({ UUID: created.UUID, BatchSize: 3 }),
  );
  check(updated.State === "Updating" && updated.BatchSize === 3, "update");
  await waitState(created.UUID, "Enabled");
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: created.UUID, Enabled: false }));
  await waitState(created.UUID, "Disabled");
  out("disabled", true);
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: created.UUID, Enabled: true }));
  await waitState(created.UUID, "Enabled");
  out("enabled again", true);

  await expectError(
    lambda.send(new CreateEventSourceMappingCommand({ EventSourceArn: arnA, FunctionName: "fn" })),
    "ResourceConflictException",
    "duplicate",
  );
  await expectError(
    lambda.send(new GetEventSourceMappingCommand({ UUID: "0e5b1d7a-4c1f-4c43-9a59-000000000000" })),
    "ResourceNotFoundException",
    "unknown uuid",
  );
  await expectError(
    lambda.send(new UpdateEventSourceMappingCommand({ UUID: created.UUID, BatchSize: 0 })),
    "InvalidParameterValueException",
    "bad batch size",
  );
  await expectError(
    client("not-the-secret").send(new ListEventSourceMappingsCommand({})),
    "InvalidSignatureException",
    "wrong secret",
  );

  for (const uuid of [created.UUID, second.UUID]) {
    const d = await lambda.send(new DeleteEventSourceMappingCommand({ UUID: uuid }));
    check(d.State === "Deleting" && d.$metadata.httpStatusCode === 202, "delete");
  }
  for (let i = 0; ; i++) {
    const l = await lambda.send(new ListEventSourceMappingsCommand({}));
    if (l.EventSourceMappings.length === 0) break;
    check(i < 3000, "deleted mappings still listed");
    await new Promise((r) => setTimeout(r, 20));
  }
  out("deleted", true);
  if (bootstrap) await selfManagedKafka();
}

// A self-managed Kafka mapping: the SDK's shapes for SelfManagedEventSource, Topics and the
// consumer group, resolved by sluice to its configured kafka source and echoed back.
async function selfManagedKafka() {
  const source = { Endpoints: { KAFKA_BOOTSTRAP_SERVERS: bootstrap.split(",") } };
  await expectError(
    lambda.send(
      new CreateEventSourceMappingCommand({
        SelfManagedEventSource: source,
        Topics: [topic],
        FunctionName: "kfn",
      }),
    ),
    "InvalidParameterValueException",
    "kafka without starting position",
  );
  const k = await lambda.send(
    new CreateEventSourceMappingCommand({
      SelfManagedEventSource: source,
      Topics: [topic],
      FunctionName: "kfn",
      StartingPosition: "TRIM_HORIZON",
    }),
  );
  check(k.$metadata.httpStatusCode === 202 && k.Topics[0] === topic, "kafka create");
  const got = await waitState(k.UUID, "Enabled");
  check(
    got.SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS.join(",") === bootstrap,
    "kafka echo",
  );
  check(got.StartingPosition === "TRIM_HORIZON" && !got.EventSourceArn, "kafka fields");
  out("kafka", { uuid: k.UUID, topics: got.Topics });
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
