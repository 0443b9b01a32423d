// A stock Node.js Lambda handler (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html),
// run by aws-lambda-ric against sluice's Runtime API: records whose body asks for it are reported
// in batchItemFailures; {"fail": "throw"} throws. Handled ids are appended to
// $STATE_DIR/delivered.
const fs = require("fs");
const path = require("path");

if (process.env._HANDLER === "index.broken") {
  throw new Error("init failed on purpose");
}

exports.handler = async (event, context) => {
  const records = Array.isArray(event) ? event : event.Records;
  console.log(`node handling ${context.awsRequestId} with ${records.length} records`);
  const failures = [];
  const done = [];
  for (const r of records) {
    let body = {};
    try {
      body = JSON.parse(r.body);
    } catch (e) {
      body = {};
    }
    if (body && body.fail === "throw") {
      const err = new Error("a record asked to fail");
      err.name = "PoisonError";
      throw err;
    }
    if (body && body.fail === "partial") failures.push({ itemIdentifier: r.id });
    else done.push(r.id);
  }
  if (done.length) {
    fs.appendFileSync(path.join(process.env.STATE_DIR, "delivered"), done.join("\n") + "\n");
  }
  return { batchItemFailures: failures };
};
exports.broken = exports.handler;
