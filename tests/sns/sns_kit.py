"""What the SNS tests need besides sluice: a test CA made with the openssl CLI (CA -> signing
certificate, as SNS's certificates are issued), messages in the formats of Amazon SNS's
"Parsing message formats" page signed as its "Verifying the signatures of Amazon SNS messages"
page describes (the string to sign, SHA1withRSA for SignatureVersion 1, SHA256withRSA for 2),
a function that records the SNS events it gets, and a server standing in for SubscribeURL."""
import base64
import http.server
import json
import os
import subprocess
import threading
import uuid

TOPIC = "arn:aws:sns:us-east-2:123456789012:orders"
SUB_ARN = TOPIC + ":21be56ed-a058-49f5-8c98-aedd2564c486"
CERT_NAME = "SimpleNotificationService-0000000000000000000000.pem"
CERT_URL = "https://sns.us-east-2.amazonaws.com/" + CERT_NAME


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TestCA:
    """In folder: ca.pem/ca.key, the signing key and certificate the CA issued (the certificate
    also as certs/<CERT_NAME>, sluice's certs_dir), and a second key no certificate names."""

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-days", "2", "-subj", "/CN=sluice test CA", cwd=folder)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "signing.key",
                "-out", "signing.csr", "-subj", "/CN=sns.us-east-2.amazonaws.com", cwd=folder)
        openssl("x509", "-req", "-in", "signing.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "signing.pem", "-days", "2", cwd=folder)
        openssl("genrsa", "-out", "other.key", "2048", cwd=folder)
        # A certificate of the other key that no CA issued (self-signed).
        openssl("req", "-x509", "-key", "other.key", "-out", "other.pem", "-days", "2",
                "-subj", "/CN=sns.us-east-2.amazonaws.com", cwd=folder)
        self.certs_dir = os.path.join(folder, "certs")
        os.makedirs(self.certs_dir, exist_ok=True)
        with open(os.path.join(folder, "signing.pem"), "rb") as f:
            pem = f.read()
        with open(os.path.join(self.certs_dir, CERT_NAME), "wb") as f:
            f.write(pem)
        self.signing_pem = pem
        with open(os.path.join(folder, "other.pem"), "rb") as f:
            self.other_pem = f.read()
        self.ca_file = os.path.join(folder, "ca.pem")
        self.key = os.path.join(folder, "signing.key")
        self.other_key = os.path.join(folder, "other.key")

    def sign(self, text, version="1", key=None):
        digest = "-sha1" if version == "1" else "-sha256"
        out = subprocess.run(["openssl", "dgst", digest, "-sign", key or self.key],
                             input=text.encode(), check=True, stdout=subprocess.PIPE).stdout
        return base64.b64encode(out).decode()


NOTE_KEYS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRM_KEYS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def string_to_sign(msg):
    keys = NOTE_KEYS if msg["Type"] == "Notification" else CONFIRM_KEYS
    return "".join("%s\n%s\n" % (k, msg[k]) for k in keys if k in msg)


def notification(ca, message, version="1", subject=None, topic=TOPIC, attrs=None, key=None,
                 cert_url=CERT_URL, message_id=None):
    msg = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2026-11-30T10:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe"
                          "&SubscriptionArn=" + SUB_ARN,
    }
    if subject is not None:
        msg["Subject"] = subject
    if attrs is not None:
        msg["MessageAttributes"] = attrs
    msg["Signature"] = ca.sign(string_to_sign(msg), version, key)
    return msg


def confirmation(ca, subscribe_url, kind="SubscriptionConfirmation", version="2"):
    msg = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "Token": "2336412f37fb687f5d51e6e2425c464de12884ec",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic %s.\nTo confirm the subscription, "
                   "visit the SubscribeURL included in this message." % TOPIC,
        "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-30T10:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
    }
    msg["Signature"] = ca.sign(string_to_sign(msg), version)
    return msg


def headers_for(msg):
    return {"Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": msg["Type"],
            "x-amz-sns-message-id": msg["MessageId"],
            "x-amz-sns-topic-arn": msg["TopicArn"],
            "x-amz-sns-subscription-arn": SUB_ARN}


class _Server:
    def __init__(self, handler_cls):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class SnsFn(_Server):
    """The function: keeps every SNS event; answers 500 to a batch holding a MessageId in
    `poison` (until it is taken out), and names the MessageIds in `fail_once` in a partial
    batch response (each once: a retry then succeeds)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.payloads = []
        self.poison = set()
        self.fail_once = set()
        fn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with fn.lock:
                    ids = {r["Sns"]["MessageId"] for r in event.get("Records", [])}
                    ok = not (ids & fn.poison)
                    failed = sorted(ids & fn.fail_once) if ok else []
                    fn.fail_once -= set(failed)
                    if ok:
                        fn.payloads.append(event)
                out = json.dumps({"batchItemFailures": [{"itemIdentifier": i}
                                                        for i in failed]}).encode()
                self.send_response(200 if ok else 500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        super().__init__(Handler)
        self.url = "http://127.0.0.1:%d/invoke" % self.port

    def records(self):
        with self.lock:
            return [r for p in self.payloads for r in p.get("Records", [])]


class ConfirmServer(_Server):
    """Stands in for SNS's SubscribeURL: keeps the query of every GET."""

    def __init__(self):
        self.lock = threading.Lock()
        self.gets = []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with srv.lock:
                    srv.gets.append(self.path)
                body = b"<ConfirmSubscriptionResponse/>"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)
        self.url = "http://127.0.0.1:%d/?Action=ConfirmSubscription&TopicArn=%s&Token=%s" % (
            self.port, TOPIC, "2336412f37fb687f5d51e6e2425c464de12884ec")

    def count(self):
        with self.lock:
            return len(self.gets)


class CertServer(_Server):
    """Serves certificates by path (`files`), counting the GETs of each."""

    def __init__(self, files):
        self.lock = threading.Lock()
        self.files = files
        self.gets = []
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                with srv.lock:
                    srv.gets.append(self.path)
                body = srv.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        super().__init__(Handler)
        self.base = "http://127.0.0.1:%d" % self.port

    def count(self, path):
        with self.lock:
            return self.gets.count(path)
