// Re-signs requests that sluice sent with the AWS SDK for JavaScript's SigV4 signer
// (@smithy/signature-v4, what @aws-sdk/client-lambda uses) and compares the signatures.
// Usage: node sigv4_check.js FILE.json, where FILE holds
//   {"credentials": {"accessKeyId", "secretAccessKey", "sessionToken"}, "region", "service",
//    "requests": [{"method", "path" (as sent, with the query), "headers": [[name, value]],
//                  "body"}]}
// (test_lambda_invoke.py writes it from what the Invoke API fixture received). Also signs
// AWS's published get-vanilla test vector first, so a broken SDK install cannot pass.
// Prints one line per request; exits 1 on any mismatch.
"use strict";
const fs = require("fs");
const { SignatureV4 } = require("@smithy/signature-v4");
const { Sha256 } = require("@aws-crypto/sha256-js");

function amzDateToDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new Error("bad x-amz-date " + s);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

async function sign(creds, region, service, req) {
  const signer = new SignatureV4({ credentials: creds, region, service, sha256: Sha256, applyChecksum: false });
  const [path, qs] = req.path.split("?");
  const query = {};
  for (const part of (qs || "").split("&").filter(Boolean)) {
    const [k, v = ""] = part.split("=");
    query[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  const lower = {};
  for (const [k, v] of req.headers) lower[k.toLowerCase()] = v;
  // Only what sluice signed: curl's own headers (accept, content-length) are not part of it.
  const auth = lower["authorization"] || "";
  const signedNames = ((/SignedHeaders=([^,]+)/.exec(auth) || [])[1] || "host;x-amz-date").split(";");
  const headers = {};
  for (const n of signedNames) if (n in lower) headers[n] = lower[n];
  const date = amzDateToDate(lower["x-amz-date"]);
  const signed = await signer.sign(
    { method: req.method, protocol: "http:", hostname: (lower["host"] || "").split(":")[0],
      path, query, headers, body: req.body },
    { signingDate: date });
  return { want: signed.headers["authorization"], got: auth };
}

async function main() {
  const input = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  // AWS's get-vanilla vector.
  const vanilla = await sign(
    { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
    "us-east-1", "service",
    { method: "GET", path: "/", headers: [["Host", "example.amazonaws.com"], ["X-Amz-Date", "20150830T123600Z"],
      ["Authorization", "x SignedHeaders=host;x-amz-date, y"]], body: "" });
  if (!vanilla.want.endsWith("Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")) {
    console.log("the SDK does not reproduce get-vanilla: " + vanilla.want);
    process.exit(1);
  }
  let bad = 0;
  for (const req of input.requests) {
    const r = await sign(input.credentials, input.region, input.service || "lambda", req);
    const ok = r.want === r.got;
    if (!ok) bad++;
    console.log((ok ? "same " : "DIFFERENT ") + req.method + " " + req.path +
      (ok ? "" : "\n  sdk:    " + r.want + "\n  sluice: " + r.got));
  }
  console.log(`${input.requests.length - bad} of ${input.requests.length} signatures as the SDK's`);
  process.exit(bad ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(2); });
