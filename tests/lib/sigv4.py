"""An independent AWS Signature Version 4 implementation for tests (standard library only).

Follows AWS's documentation of signed requests
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html) and what the AWS
SDKs do for every service but S3: the canonical URI is the path as sent, URI-encoded once more.
Written separately from clients/aws/sigv4.c so that each checks the other.
"""
import hashlib
import hmac
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"


def _enc(s, safe=""):
    # RFC 3986 unreserved characters stay; everything else is %XX (upper-case hex).
    return urllib.parse.quote(s, safe=safe + "-_.~")


def canonical_uri(path, double_encode=True):
    if not double_encode:
        return path or "/"
    segs = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(seg)
    out = ("/" if path.startswith("/") else "") + "/".join(_enc(s) for s in segs)
    if segs and path.endswith("/"):
        out += "/"
    return out or "/"


def canonical_query(query):
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_enc(urllib.parse.unquote(name)), _enc(urllib.parse.unquote(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def canonical_request(method, path, query, headers, signed, payload_hash, double_encode=True):
    """headers: {lower-case name: [values]}; signed: sorted lower-case names."""
    lines = []
    for name in signed:
        vals = [" ".join(v.split()) for v in headers[name]]
        lines.append("%s:%s\n" % (name, ",".join(vals)))
    return "\n".join([method, canonical_uri(path, double_encode), canonical_query(query),
                      "".join(lines), ";".join(signed), payload_hash])


def signing_key(secret, date, region, service):
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signature(secret, amz_date, region, service, creq):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    return hmac.new(signing_key(secret, amz_date[:8], region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


def sign(method, path, query, headers, payload, access_key, secret, region, service, amz_date,
         double_encode=True):
    """The Authorization value for a request; headers: {name: value} (all signed)."""
    h = {}
    for k, v in headers.items():
        h.setdefault(k.lower(), []).append(v)
    signed = sorted(h)
    creq = canonical_request(method, path, query, h, signed,
                             hashlib.sha256(payload).hexdigest(), double_encode)
    sig = signature(secret, amz_date, region, service, creq)
    return "%s Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s" % (
        ALGORITHM, access_key, amz_date[:8], region, service, ";".join(signed), sig)


def parse_authorization(value):
    """{'Credential': ..., 'SignedHeaders': ..., 'Signature': ...} or None."""
    if not value or not value.startswith(ALGORITHM + " "):
        return None
    out = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        k, _, v = part.strip().partition("=")
        out[k] = v
    if set(out) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    return out


def verify(method, raw_path, headers, payload, secrets, service="lambda"):
    """Checks a received request the way AWS does. raw_path: the request target as received
    (path and query, percent-encoding kept); headers: list of (name, value) as received;
    secrets: {access key id: secret}. Returns (ok, reason)."""
    hdrs = {}
    for k, v in headers:
        hdrs.setdefault(k.lower(), []).append(v)
    auth = parse_authorization((hdrs.get("authorization") or [None])[0])
    if not auth:
        return False, "MissingAuthenticationTokenException: no SigV4 Authorization header"
    cred = auth["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request" or cred[3] != service:
        return False, "IncompleteSignatureException: bad credential scope"
    key_id, date, region = cred[0], cred[1], cred[2]
    if key_id not in secrets:
        return False, "UnrecognizedClientException: The security token included in the request is invalid."
    amz_date = (hdrs.get("x-amz-date") or [""])[0]
    if amz_date[:8] != date:
        return False, "IncompleteSignatureException: x-amz-date does not match the scope"
    signed = auth["SignedHeaders"].split(";")
    if signed != sorted(signed) or "host" not in signed or any(n not in hdrs for n in signed):
        return False, "IncompleteSignatureException: bad SignedHeaders"
    body_hash = hashlib.sha256(payload).hexdigest()
    if "x-amz-content-sha256" in hdrs and hdrs["x-amz-content-sha256"][0] != body_hash:
        return False, "InvalidSignatureException: x-amz-content-sha256 does not match the body"
    path, _, query = raw_path.partition("?")
    creq = canonical_request(method, path, query, hdrs, signed, body_hash)
    want = signature(secrets[key_id], amz_date, region, service, creq)
    if not hmac.compare_digest(want, auth["Signature"]):
        return False, ("InvalidSignatureException: The request signature we calculated does not "
                       "match the signature you provided.")
    return True, region
