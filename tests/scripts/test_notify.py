"""The ``clickbank-notify`` console script and its pieces (no Plone needed)."""

import io
import json
import socket
import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer

import pytest

from niteoweb.clickbank import ins
from niteoweb.clickbank.ins.crypto import decrypt
from niteoweb.clickbank.ins.parse import parse
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.scripts.notify import main
from niteoweb.clickbank.scripts.notify import post

SECRET = "MYSECRETKEY123"

# The top-level fields of the v6 sample in ClickBank's documentation.
V6_FIELDS = {
    "transactionTime",
    "receipt",
    "transactionType",
    "vendor",
    "affiliate",
    "role",
    "totalAccountAmount",
    "paymentMethod",
    "totalOrderAmount",
    "totalTaxAmount",
    "totalShippingAmount",
    "currency",
    "orderLanguage",
    "trackingCodes",
    "lineItems",
    "customer",
    "upsell",
    "hopfeed",
    "version",
    "attemptCount",
    "vendorVariables",
}
LINE_ITEM_FIELDS = {
    "itemNo",
    "productTitle",
    "shippable",
    "recurring",
    "accountAmount",
    "quantity",
    "downloadUrl",
    "lineItemType",
}
CONTACT_FIELDS = {
    "firstName",
    "lastName",
    "fullName",
    "phoneNumber",
    "email",
    "address",
}


class RecordingHandler(BaseHTTPRequestHandler):
    """Record each request and answer with the server's ``answer``."""

    def do_POST(self):
        """Record a POST and answer it."""
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length))

    def do_GET(self):
        """Record a GET (a followed redirect would be one) and answer it."""
        self._answer(b"")

    def _answer(self, body):
        self.server.requests.append((self.command, self.path, self.headers, body))
        status, text, headers = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        """Keep test output quiet."""


@pytest.fixture
def server(monkeypatch):
    """A local HTTP server on a free port that records what it receives."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    httpd = HTTPServer(("127.0.0.1", 0), RecordingHandler)
    httpd.requests = []
    httpd.answer = (200, b'{"status": "ok"}', {})
    httpd.url = f"http://127.0.0.1:{httpd.server_port}/Plone/@@clickbank"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def no_secret_in_environment(monkeypatch):
    """Tests choose the secret key themselves."""
    monkeypatch.delenv("CLICKBANK_SECRET_KEY", raising=False)


def printed_envelope(capsys) -> dict:
    """Return the notification in the envelope ``main`` printed."""
    return decrypt(capsys.readouterr().out.strip().encode(), SECRET)


def test_build_notification_has_every_v6_field():
    """The built payload has the top-level fields of ClickBank's v6 sample."""
    payload = build_notification()
    assert set(payload) == V6_FIELDS
    assert payload["version"] == 6.0
    assert payload["attemptCount"] == 1
    assert payload["transactionType"] == "SALE"
    assert payload["vendor"] == "testvendor"
    assert payload["role"] == "VENDOR"


def test_build_notification_first_item_is_original_further_ones_are_bumps():
    """One line item per item number: ORIGINAL first, then BUMPs."""
    payload = build_notification(items=["1", "2", "3"], amount=2.99)
    items = payload["lineItems"]
    assert [item["itemNo"] for item in items] == ["1", "2", "3"]
    assert [item["lineItemType"] for item in items] == ["ORIGINAL", "BUMP", "BUMP"]
    assert all(set(item) == LINE_ITEM_FIELDS for item in items)
    assert payload["totalOrderAmount"] == 8.97
    notification = parse(payload)
    assert notification.total_account_amount == Decimal("8.97")
    assert notification.line_items[1].account_amount == Decimal("2.99")


def test_build_notification_customer_has_shipping_and_billing():
    """Shipping and billing contacts carry the buyer's name and email."""
    payload = build_notification(email="jose@example.com", first_name="José")
    for role in ("shipping", "billing"):
        contact = payload["customer"][role]
        assert set(contact) == CONTACT_FIELDS
        assert contact["email"] == "jose@example.com"
    customer = parse(payload).customer
    assert customer.full_name == "José GUY"
    assert customer.email == "jose@example.com"


def test_build_notification_defaults_to_now_and_a_random_receipt():
    """Without time and receipt: now in UTC, and a fresh 8-character receipt."""
    before = datetime.now(UTC).replace(microsecond=0)
    first = build_notification()
    second = build_notification()
    assert before <= parse(first).transaction_time <= datetime.now(UTC)
    assert len(first["receipt"]) == 8
    assert first["receipt"].isalnum()
    assert first["receipt"] == first["receipt"].upper()
    assert first["receipt"] != second["receipt"]


def test_build_notification_recurring_items_get_a_payment_plan():
    """Subscriptions rebill monthly, next 30 days after the transaction."""
    payload = build_notification(
        recurring=True, transaction_time="2016-06-05T13:47:51-06:00"
    )
    plan = parse(payload).line_items[0].payment_plan
    assert payload["lineItems"][0]["recurring"] is True
    assert plan.rebill_frequency == "MONTHLY"
    assert plan.next_payment_date == datetime(2016, 7, 5, 19, 47, 51, tzinfo=UTC)


def test_build_notification_sends_times_as_given():
    """String times go out unchanged, so any format can be tried."""
    payload = build_notification(
        transaction_time="20220810T162015-0700",
        recurring=True,
        next_payment_date="2022-09-10",
    )
    assert payload["transactionTime"] == "20220810T162015-0700"
    assert payload["lineItems"][0]["paymentPlan"]["nextPaymentDate"] == "2022-09-10"


def test_build_notification_returns_a_fresh_payload_every_time():
    """Changing one built payload, however deep, changes no later one."""
    first = build_notification(recurring=True)
    first["customer"]["shipping"]["address"]["city"] = None
    first["customer"]["billing"]["address"]["state"] = None
    first["lineItems"][0]["paymentPlan"]["rebillStatus"] = None
    second = build_notification(recurring=True)
    assert second["customer"]["shipping"]["address"]["city"] == "LAS VEGAS"
    assert second["customer"]["billing"]["address"]["state"] == "NV"
    assert second["lineItems"][0]["paymentPlan"]["rebillStatus"] == "ACTIVE"


def test_build_notification_marks_test_types_as_test_payments():
    """Test transactions are paid with the TEST payment method."""
    assert build_notification(transaction_type="TEST_SALE")["paymentMethod"] == "TEST"
    assert build_notification()["paymentMethod"] == "VISA"


def test_main_without_url_prints_a_decryptable_envelope(capsys):
    """The printed envelope decrypts with the secret key to the built payload."""
    argv = ["--secret", SECRET, "--type", "bill", "--item", "7", "--item", "8"]
    argv += ["--receipt", "ABCD1234-B002", "--email", "buyer@example.org"]
    assert main(argv) == 0
    notification = parse(printed_envelope(capsys))
    assert notification.transaction_type == "BILL"
    assert notification.receipt == "ABCD1234-B002"
    assert notification.item_numbers == ("7", "8")
    assert notification.customer.email == "buyer@example.org"


def test_main_passes_every_option_into_the_payload(capsys):
    """Names, vendor, role, language, affiliate, time and recurrence are used."""
    argv = ["--secret", SECRET, "--first-name", "José", "--last-name", "Müller"]
    argv += ["--vendor", "acme", "--role", "affiliate", "--language", "de"]
    argv += ["--affiliate", "aff1", "--time", "2016-06-05T13:47:51-06:00"]
    argv += ["--recurring", "--next-payment-date", "2016-07-05"]
    assert main(argv) == 0
    notification = parse(printed_envelope(capsys))
    assert notification.customer.full_name == "José Müller"
    assert (notification.vendor, notification.role) == ("acme", "AFFILIATE")
    assert (notification.order_language, notification.affiliate) == ("DE", "aff1")
    assert notification.transaction_time.utcoffset() == timedelta(hours=-6)
    plan = notification.line_items[0].payment_plan
    assert plan.next_payment_date == datetime(2016, 7, 5, tzinfo=UTC)


def test_main_reads_the_secret_from_the_environment(capsys, monkeypatch):
    """CLICKBANK_SECRET_KEY stands in for --secret."""
    monkeypatch.setenv("CLICKBANK_SECRET_KEY", SECRET)
    assert main([]) == 0
    assert printed_envelope(capsys)["transactionType"] == "SALE"


def test_main_print_payload_shows_the_plaintext_on_stderr(capsys):
    """--print-payload adds the plaintext without spoiling the envelope."""
    assert main(["--secret", SECRET, "--receipt", "CWOGBZLN", "--print-payload"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(err)["receipt"] == "CWOGBZLN"
    assert decrypt(out.strip().encode(), SECRET)["receipt"] == "CWOGBZLN"


def test_main_json_file_is_sent_verbatim(capsys, tmp_path):
    """--json FILE sends that plaintext notification instead of a built one."""
    payload = {"receipt": "FILE0001", "transactionType": "RFND", "custom": [1, 2]}
    path = tmp_path / "notification.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert main(["--secret", SECRET, "--json", str(path)]) == 0
    assert printed_envelope(capsys) == payload


def test_main_json_dash_reads_stdin(capsys, monkeypatch):
    """--json - reads the plaintext notification from stdin."""
    payload = {"receipt": "STDIN001", "transactionType": "SALE"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(payload)))
    assert main(["--secret", SECRET, "--json", "-"]) == 0
    assert printed_envelope(capsys) == payload


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-secret"),
        pytest.param(["--secret", ""], id="empty-secret"),
        pytest.param(["--secret", SECRET, "--time", "2016-06-05 13:47"], id="bad-time"),
        pytest.param(
            ["--secret", SECRET, "--url", "file:///etc/passwd"], id="file-url"
        ),
        pytest.param(["--secret", SECRET, "--json", "/nonexistent.json"], id="no-file"),
        pytest.param(["--secret", SECRET, "--timeout", "soon"], id="bad-timeout"),
        pytest.param(["--secret", SECRET, "--colour"], id="unknown-option"),
    ],
)
def test_main_usage_errors_exit_with_2(argv, capsys):
    """Misuse prints a usage message and returns 2, never a traceback."""
    assert main(argv) == 2
    assert "usage: clickbank-notify" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["[1, 2]", "not json"])
def test_main_json_that_is_not_an_object_is_a_usage_error(text, tmp_path):
    """--json must name a JSON object."""
    path = tmp_path / "notification.json"
    path.write_text(text, encoding="utf-8")
    assert main(["--secret", SECRET, "--json", str(path)]) == 2


def test_main_help_exits_with_0(capsys):
    """--help is not an error."""
    assert main(["--help"]) == 0
    assert "--secret" in capsys.readouterr().out


def test_main_posts_a_decryptable_json_body(server, capsys):
    """With --url, the envelope is POSTed as JSON and the answer printed."""
    argv = ["--secret", SECRET, "--url", server.url, "--receipt", "POST0001"]
    assert main(argv) == 0
    [(method, path, headers, body)] = server.requests
    assert (method, path) == ("POST", "/Plone/@@clickbank")
    assert headers["Content-Type"] == "application/json"
    notification = ins.decode(body, SECRET)
    assert notification.receipt == "POST0001"
    out = capsys.readouterr().out
    assert "HTTP 200" in out
    assert '{"status": "ok"}' in out


@pytest.mark.parametrize("status, code", [(200, 0), (204, 0), (400, 1), (503, 1)])
def test_main_exit_code_follows_the_http_status(server, capsys, status, code):
    """2xx answers exit 0, any other answer exits 1."""
    server.answer = (status, b"", {})
    assert main(["--secret", SECRET, "--url", server.url]) == code
    assert f"HTTP {status}" in capsys.readouterr().out


def test_main_does_not_follow_redirects(server, capsys):
    """A redirect (e.g. to a login form) is a failure, as it is for ClickBank."""
    server.answer = (302, b"", {"Location": "/Plone/login"})
    assert main(["--secret", SECRET, "--url", server.url]) == 1
    assert [request[0] for request in server.requests] == ["POST"]
    assert "HTTP 302" in capsys.readouterr().out


def test_main_without_an_answer_exits_with_1(capsys):
    """Nobody listening on the URL is a failure, reported without a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["--secret", SECRET, "--url", f"http://127.0.0.1:{port}/"]) == 1
    assert "no answer" in capsys.readouterr().err


def test_post_refuses_urls_that_are_not_http():
    """Only http:// and https:// URLs are ever opened."""
    with pytest.raises(ValueError):
        post("file:///etc/passwd", b"{}")
