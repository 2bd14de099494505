"""The transaction log: queries, Classic UI pages, CSV export and REST services."""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
import transaction
from plone.app.testing import SITE_OWNER_NAME
from plone.app.testing import SITE_OWNER_PASSWORD
from plone.app.testing import TEST_USER_ID
from plone.app.testing import TEST_USER_NAME
from plone.app.testing import TEST_USER_PASSWORD

from helpers import T0
from helpers import notification
from niteoweb.clickbank import members
from niteoweb.clickbank import processing
from niteoweb.clickbank.browser.log import spreadsheet_safe
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage import log
from niteoweb.clickbank.storage import queries
from niteoweb.clickbank.storage.filters import InvalidLogQuery
from niteoweb.clickbank.storage.filters import LogQuery
from niteoweb.clickbank.storage.filters import parse_batch
from niteoweb.clickbank.storage.filters import parse_query
from niteoweb.clickbank.storage.root import get_storage
from niteoweb.clickbank.testing import install_mock_mailhost

NOW = T0 + timedelta(days=1)
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
VIEWS = (
    "@@clickbank-log",
    "@@clickbank-log.csv",
    "@@clickbank-log-entry?id=1",
    "@@clickbank-member?email=buyer@example.com",
)
SERVICES = (
    "@clickbank-log",
    "@clickbank-log/1",
    "@clickbank-member?email=buyer@example.com",
    "@clickbank-member/buyer@example.com",
)


def receive(*notifications):
    """Apply notifications as the webhook does; returns their results."""
    return [processing.handle(n, get_settings(), now=NOW) for n in notifications]


def ignored(count: int, start: int = 0):
    """``count`` affiliate copies: recorded (ignored-role), no member touched."""
    return [
        notification(receipt=f"R{i:07d}", role="AFFILIATE", email=f"b{i}@example.com")
        for i in range(start, start + count)
    ]


def small_log():
    """Two orders of two buyers, a rebill, a refund and an affiliate copy."""
    receive(
        notification(receipt="AAAA1111", email="a@example.com"),
        notification("BILL", receipt="AAAA1111-B001", days=30, email="a@example.com"),
        notification(receipt="BBBB2222", email="b@example.com"),
        notification("RFND", receipt="BBBB2222", days=2, email="b@example.com"),
        notification(receipt="CCCC3333", role="AFFILIATE", email="a@example.com"),
    )


def found(query, **batch) -> list[tuple[str, str]]:
    page = queries.search(get_storage(), query, **batch)
    return [(r.transaction_type, r.receipt) for r in page.records]


class CountingRecords:
    """``storage.records`` that notes which records are read; walking it fails."""

    def __init__(self, records, walkable=True):
        self.records, self.walkable, self.loaded = records, walkable, []

    def __getitem__(self, record_id):
        self.loaded.append(record_id)
        return self.records[record_id]

    def maxKey(self, key):  # noqa: N802 - BTree API
        assert self.walkable, "the whole log was walked"
        return self.records.maxKey(key)


def spied(walkable=True):
    storage = get_storage()
    records = CountingRecords(storage.records, walkable)
    return records, SimpleNamespace(
        records=records,
        record_count=storage.record_count,
        orders=storage.orders,
        buyers=storage.buyers,
    )


class TestLogQuery:
    """Filters and pages of the log, read through indexes and id ranges."""

    @pytest.fixture(autouse=True)
    def _mails(self, portal):
        install_mock_mailhost(portal)

    @pytest.mark.parametrize(
        "form,expected",
        [
            ({}, LogQuery()),
            ({"email": " A@Example.com "}, LogQuery(email="a@example.com")),
            ({"receipt": "aaaa1111-b001"}, LogQuery(receipt="AAAA1111-B001")),
            ({"type": "sale", "outcome": "all"}, LogQuery(transaction_type="SALE")),
            ({"outcome": "revoked"}, LogQuery(outcome="revoked")),
            (
                {"from": "2026-03-01", "to": "2026-03-01"},
                LogQuery(start=date(2026, 3, 1), end=date(2026, 3, 1)),
            ),
        ],
    )
    def test_parse_query(self, form, expected):
        """Filters are trimmed and normalised like the indexes."""
        assert parse_query(form) == expected

    @pytest.mark.parametrize(
        "form,message",
        [
            ({"from": "2026-13-01"}, "YYYY-MM-DD"),
            ({"from": "01/03/2026"}, "YYYY-MM-DD"),
            ({"to": "20260301"}, "YYYY-MM-DD"),
            ({"from": "2026-03-02", "to": "2026-03-01"}, "not be after"),
            ({"outcome": "bogus"}, "must be one of"),
            ({"type": SCRIPT}, "transaction type"),
            ({"email": ["a@example.com", "b@example.com"]}, "only once"),
        ],
    )
    def test_parse_query_refuses_bad_input(self, form, message):
        """A bad filter raises InvalidLogQuery saying what to correct."""
        with pytest.raises(InvalidLogQuery, match=message):
            parse_query(form)

    @pytest.mark.parametrize(
        "form,expected",
        [
            ({}, (0, 50)),
            ({"page": "2"}, (50, 50)),
            ({"page": "3", "b_size": "10"}, (20, 10)),
            ({"b_start": "10", "b_size": "5"}, (10, 5)),
        ],
    )
    def test_parse_batch(self, form, expected):
        """``b_start``/``b_size`` or ``page`` choose the page; 50 per page."""
        assert parse_batch(form) == expected

    @pytest.mark.parametrize(
        "form", [{"b_size": "0"}, {"b_size": "501"}, {"b_start": "-1"}, {"page": "x"}]
    )
    def test_parse_batch_refuses_bad_input(self, form):
        """Paging parameters must be whole numbers in range."""
        with pytest.raises(InvalidLogQuery):
            parse_batch(form)

    def test_date_range_is_a_record_id_range(self):
        """A day in UTC maps to the ids of the microseconds of that day."""
        day = LogQuery(start=date(2026, 3, 1), end=date(2026, 3, 1))
        midnight = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
        assert day.id_range == (midnight * 10**9, (midnight + 86400) * 10**9 - 1)

    def test_newest_first_in_pages_of_fifty(self):
        """60 records make a full first page and a second page of ten."""
        receive(*ignored(60))
        first = queries.search(get_storage(), LogQuery())
        second = queries.search(get_storage(), LogQuery(), b_start=50)
        assert (len(first.records), first.total, first.has_next) == (50, 60, True)
        assert (len(second.records), second.has_next) == (10, False)
        ids = [r.id for r in first.records + second.records]
        assert ids == sorted(ids, reverse=True)
        assert first.records[0].receipt == "R0000059"

    @pytest.mark.parametrize(
        "form,expected",
        [
            ({"email": "A@example.com"}, ["CCCC3333", "AAAA1111-B001", "AAAA1111"]),
            ({"receipt": "AAAA1111"}, ["AAAA1111-B001", "AAAA1111"]),
            ({"receipt": "AAAA1111-B001"}, ["AAAA1111-B001"]),
            ({"receipt": "BBBB2222", "email": "a@example.com"}, []),
            ({"receipt": "CCCC3333", "email": "a@example.com"}, ["CCCC3333"]),
            ({"type": "RFND"}, ["BBBB2222"]),
            ({"outcome": "ignored-role"}, ["CCCC3333"]),
            ({"email": "b@example.com", "outcome": "created"}, ["BBBB2222"]),
            ({"email": "nobody@example.com"}, []),
            ({"receipt": "ZZZZ9999"}, []),
        ],
    )
    def test_filters(self, form, expected):
        """Email, receipt (original or rebill), type and outcome filter the log."""
        small_log()
        query = parse_query(form)
        assert [receipt for _, receipt in found(query)] == expected

    def test_date_range_filter(self, monkeypatch):
        """Only records received within the days (inclusive) are found."""
        for day in (1, 2, 3):
            received = datetime(2026, 3, day, 12, tzinfo=UTC).timestamp()
            clock = SimpleNamespace(time_ns=lambda r=received: int(r * 10**9))
            monkeypatch.setattr(log, "time", clock)
            receive(notification(receipt=f"DAY{day}", role="AFFILIATE"))
        query = parse_query({"from": "2026-03-02", "to": "2026-03-03"})
        assert [receipt for _, receipt in found(query)] == ["DAY3", "DAY2"]
        assert queries.count(get_storage(), query) == 2
        query = parse_query({"to": "2026-03-01"})
        assert [receipt for _, receipt in found(query)] == ["DAY1"]

    def test_email_filter_reads_only_the_buyers_records(self):
        """An email filter walks the buyer's orders, never the log: only theirs load."""
        small_log()
        receive(*ignored(30))
        records, storage = spied(walkable=False)
        query = parse_query({"email": "a@example.com", "type": "SALE"})
        page = queries.search(storage, query)
        assert [r.receipt for r in page.records] == ["CCCC3333", "AAAA1111"]
        assert page.total == 2
        assert set(records.loaded) <= set(
            queries.record_ids(get_storage(), email="a@example.com")
        )

    def test_unfiltered_page_reads_only_its_records(self):
        """A page of 50 out of 60 loads 50 records and counts without loading."""
        receive(*ignored(60))
        records, storage = spied()
        page = queries.search(storage, LogQuery())
        assert page.total == 60
        assert len(records.loaded) == 50

    def test_type_filter_total_is_known_on_the_last_page(self):
        """Without an index, the total is unknown until the last page is reached."""
        receive(*ignored(5))
        query = LogQuery(transaction_type="SALE")
        assert queries.search(get_storage(), query, b_size=2).total is None
        assert queries.search(get_storage(), query, b_start=4, b_size=2).total == 5

    @pytest.mark.parametrize("record_id", ["", "abc", "999", "-1", "1" * 30])
    def test_get_record_of_unknown_id_is_none(self, record_id):
        """Unknown or malformed ids find nothing."""
        assert queries.get_record(get_storage(), record_id) is None

    def test_summary_has_no_payload(self):
        """The listed form of a record leaves the customer data out."""
        (result,) = receive(notification(first_name="Jane"))
        record = queries.get_record(get_storage(), str(result.record_id))
        assert "payload" not in queries.summary(record)
        assert "Jane" not in str(queries.summary(record))


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("SALE", "SALE"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(value, expected):
    """Cells a spreadsheet would run as a formula get a leading quote."""
    assert spreadsheet_safe(value) == expected


@pytest.fixture
def site(functional_portal):
    """The functional site, its mail kept in memory."""
    install_mock_mailhost(functional_portal)
    transaction.commit()
    return functional_portal


@pytest.fixture
def admin(admin_browser, site):
    """The test browser, logged in as the site owner, on the prepared site."""
    return admin_browser


def committed(*notifications):
    """Apply notifications and commit, so that the browser sees them."""
    results = receive(*notifications)
    transaction.commit()
    return results


def status(browser) -> int:
    return int(browser.headers["status"].split()[0])


class TestClassicViews:
    """``@@clickbank-log``, ``@@clickbank-log-entry`` and ``@@clickbank-member``."""

    @pytest.mark.parametrize("view", VIEWS)
    def test_anonymous_is_sent_to_login(self, browser, site, view):
        """Anonymous visitors are sent to the login form."""
        committed(notification())
        browser.open(f"{site.absolute_url()}/{view}")
        assert "/login?came_from=" in browser.url
        assert "buyer@example.com</a>" not in browser.contents

    @pytest.mark.parametrize("view", VIEWS)
    def test_plain_member_is_refused(self, browser, site, view):
        """Members without Manage portal see insufficient privileges."""
        committed(notification())
        browser.addHeader(
            "Authorization", f"Basic {TEST_USER_NAME}:{TEST_USER_PASSWORD}"
        )
        browser.open(f"{site.absolute_url()}/{view}")
        assert browser.url.endswith("/insufficient-privileges")
        assert "AAAA1111" not in browser.contents

    def test_log_lists_rows_with_links(self, admin, site):
        """Each row links to its record and to the buyer's page."""
        (sale,) = committed(notification(items=("1", "2")))
        admin.open(site.absolute_url() + "/@@clickbank-log")
        assert status(admin) == 200
        assert "ClickBank transaction log" in admin.contents
        assert "AAAA1111" in admin.contents and "1, 2" in admin.contents
        assert "Records 1–1 of 1" in admin.contents
        admin.getLink("buyer@example.com").click()
        assert "@@clickbank-member?email=buyer%40example.com" in admin.url
        admin.goBack()
        admin.getLink(url=f"@@clickbank-log-entry?id={sale.record_id}").click()
        assert "ClickBank notification" in admin.contents

    def test_log_filters_from_the_form(self, admin, site):
        """The filter form narrows the table and keeps what was typed."""
        committed(notification(), notification(receipt="BBBB2222", email="b@x.org"))
        admin.open(site.absolute_url() + "/@@clickbank-log")
        admin.getControl(name="email").value = "B@X.org"
        admin.getControl(name="outcome").value = ["created"]
        admin.getForm(index=1).submit()
        assert "BBBB2222" in admin.contents
        assert "AAAA1111" not in admin.contents
        assert admin.getControl(name="email").value == "B@X.org"

    @pytest.mark.parametrize(
        "query,message",
        [
            ("from=2026-02-30", "must be a date written as YYYY-MM-DD"),
            ("outcome=%3Cb%3E", "must be one of"),
            ("b_size=abc", "must be a whole number"),
        ],
    )
    def test_bad_filter_is_a_message(self, admin, site, query, message):
        """A bad filter is explained on the page (400), without a traceback."""
        admin.open(f"{site.absolute_url()}/@@clickbank-log?{query}")
        assert status(admin) == 400
        assert message in admin.contents
        assert "Traceback" not in admin.contents
        assert "<b>" not in admin.contents

    def test_sixty_records_make_two_pages(self, admin, site):
        """50 rows on the first page, the older 10 behind the 'Older' link."""
        committed(*ignored(60))
        admin.open(site.absolute_url() + "/@@clickbank-log")
        assert admin.contents.count("@@clickbank-log-entry?id=") == 50
        assert "R0000059" in admin.contents and "R0000009" not in admin.contents
        admin.getLink("Older").click()
        assert admin.contents.count("@@clickbank-log-entry?id=") == 10
        assert "Records 51–60 of 60" in admin.contents
        assert "R0000009" in admin.contents
        admin.open(site.absolute_url() + "/@@clickbank-log?page=2&b_size=25")
        assert "Records 26–50 of 60" in admin.contents

    def test_script_in_log_is_escaped(self, admin, site):
        """A script as buyer email (a rejected sale) is shown as text."""
        committed(notification(email=SCRIPT), notification(first_name=SCRIPT))
        admin.open(site.absolute_url() + "/@@clickbank-log")
        assert SCRIPT not in admin.contents
        assert ESCAPED in admin.contents

    def test_entry_shows_fields_and_payload(self, admin, site):
        """All fields and the decrypted notification as JSON."""
        (sale,) = committed(notification(first_name="José", last_name=SCRIPT))
        admin.open(f"{site.absolute_url()}/@@clickbank-log-entry?id={sale.record_id}")
        assert str(sale.record_id) in admin.contents
        assert "testvendor" in admin.contents and "created" in admin.contents
        assert '"firstName": "José"' in admin.contents
        assert SCRIPT not in admin.contents
        assert ESCAPED in admin.contents

    @pytest.mark.parametrize("blank", [None, {}])
    def test_entry_says_when_payload_was_blanked(self, admin, site, blank):
        """After the retention sweep the record says its customer data is gone."""
        (sale,) = committed(notification(first_name="Jane"))
        queries.get_record(get_storage(), sale.record_id).payload = blank
        transaction.commit()
        admin.open(f"{site.absolute_url()}/@@clickbank-log-entry?id={sale.record_id}")
        assert "was removed when the log retention period ended" in admin.contents
        assert "Jane" not in admin.contents

    @pytest.mark.parametrize("record_id", ["999", "abc", "", "1&id=2"])
    def test_unknown_entry_is_404(self, admin, site, record_id):
        """An unknown or malformed id is not found."""
        admin.open(f"{site.absolute_url()}/@@clickbank-log-entry?id={record_id}")
        assert status(admin) == 404

    def test_member_page(self, admin, site):
        """Member link, entitlements and notifications of the buyer."""
        committed(
            notification(email="buyer@example.com"),
            notification("RFND", days=2, email="buyer@example.com"),
        )
        admin.open(site.absolute_url() + "/@@clickbank-member?email=Buyer@Example.com")
        assert "@@user-information?userid=" in admin.contents
        assert "refunded" in admin.contents
        assert admin.contents.count("@@clickbank-log-entry?id=") == 2
        assert admin.contents.index("RFND") < admin.contents.index("SALE")

    def test_member_page_without_member(self, admin, site):
        """A refund whose sale never came: history, but no member."""
        committed(notification("RFND", email="late@example.com"))
        admin.open(site.absolute_url() + "/@@clickbank-member?email=late@example.com")
        assert "No member" in admin.contents
        assert "RFND" in admin.contents

    def test_member_page_of_unknown_buyer(self, admin, site):
        """Nothing is known about an email the log never saw."""
        admin.open(site.absolute_url() + "/@@clickbank-member?email=who@example.com")
        assert "Nothing is known about this buyer." in admin.contents

    def test_script_on_member_page_is_escaped(self, admin, site):
        """A script as full name or email is shown as text."""
        committed(notification(first_name=SCRIPT, last_name=""))
        committed(notification(email=SCRIPT, receipt="BBBB2222"))
        for email in ("buyer@example.com", SCRIPT):
            admin.open(
                site.absolute_url()
                + "/@@clickbank-member?email="
                + requests.utils.quote(email)
            )
            assert SCRIPT not in admin.contents
            assert ESCAPED in admin.contents


@pytest.fixture
def site_url(acceptance):
    """The URL of the site served over real HTTP."""
    return f"http://{acceptance['host']}:{acceptance['port']}/plone"


@pytest.fixture
def session(acceptance):
    """A requests session of the site owner, asking for JSON."""
    session = requests.Session()
    session.headers.update({"Accept": "application/json"})
    session.auth = (SITE_OWNER_NAME, SITE_OWNER_PASSWORD)
    yield session
    session.close()


class TestCsvExport:
    """``@@clickbank-log.csv``: every matching row, safe for spreadsheets."""

    def test_utf8_with_bom_and_header(self, session, site_url):
        """UTF-8 text/csv with a BOM, a header row and a dated attachment name."""
        committed(notification(first_name="José"), *ignored(60))
        response = session.get(site_url + "/@@clickbank-log.csv")
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        today = datetime.now(UTC).strftime("%Y%m%d")
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="clickbank-log-{today}.csv"'
        )
        assert response.content.startswith(b"\xef\xbb\xbfid,received,")
        lines = response.content.decode("utf-8-sig").splitlines()
        assert len(lines) == 1 + 61
        assert lines[-1].split(",")[3:5] == ["SALE", "AAAA1111"]

    def test_filters_apply(self, session, site_url):
        """The export holds only the rows the filters match."""
        committed(notification(), notification(receipt="BBBB2222", email="b@x.org"))
        response = session.get(site_url + "/@@clickbank-log.csv?email=b@x.org")
        lines = response.content.decode("utf-8-sig").splitlines()
        assert len(lines) == 2 and "BBBB2222" in lines[1]

    def test_formulas_are_neutralised(self, session, site_url):
        """A cell starting like a formula is prefixed with a quote."""
        committed(notification(email="=cmd|' /c calc'!a0", receipt="=HYPERLINK(1)"))
        response = session.get(site_url + "/@@clickbank-log.csv")
        text = response.content.decode("utf-8-sig")
        assert "'=cmd|' /c calc'!a0" in text
        assert "'=HYPERLINK(1)" in text
        assert ",=" not in text

    def test_bad_filter_is_400(self, session, site_url):
        """A bad filter is a plain-text message, not a file."""
        response = session.get(site_url + "/@@clickbank-log.csv?to=tomorrow")
        assert response.status_code == 400
        assert "YYYY-MM-DD" in response.text


class TestRestLog:
    """``@clickbank-log`` and ``@clickbank-member`` over real HTTP."""

    @pytest.mark.parametrize("service", SERVICES)
    @pytest.mark.parametrize("auth", [None, (TEST_USER_NAME, TEST_USER_PASSWORD)])
    def test_anonymous_and_members_are_refused(self, session, site_url, service, auth):
        """Only managers read the log."""
        committed(notification())
        session.auth = auth
        response = session.get(f"{site_url}/{service}")
        assert response.status_code == 401
        assert "buyer@example.com" not in response.text

    def test_list(self, session, site_url):
        """Items without payloads, each with the URL of its detail."""
        (sale,) = committed(notification(first_name="Jane"))
        response = session.get(site_url + "/@clickbank-log")
        assert response.status_code == 200
        body = response.json()
        assert body["@id"].startswith(site_url + "/@clickbank-log")
        assert body["items_total"] == 1
        (item,) = body["items"]
        assert item["@id"] == f"{site_url}/@clickbank-log/{sale.record_id}"
        assert item["id"] == sale.record_id
        assert item["transaction_type"] == "SALE"
        assert item["receipt"] == item["original_receipt"] == "AAAA1111"
        assert item["email"] == "buyer@example.com"
        assert item["item_numbers"] == ["1"]
        assert item["outcome"] == "created"
        assert item["transaction_time"] == "2026-03-01T10:00:00+00:00"
        assert "payload" not in item and "Jane" not in response.text

    def test_filters(self, session, site_url):
        """The same filters as the Classic page, as query parameters."""
        committed(
            notification(),
            notification("RFND", receipt="AAAA1111", days=2),
            notification(receipt="BBBB2222-B001", email="b@x.org"),
        )
        today = datetime.now(UTC).date().isoformat()
        cases = {
            "email=b@x.org": ["BBBB2222-B001"],
            "receipt=BBBB2222": ["BBBB2222-B001"],
            "type=RFND": ["AAAA1111"],
            "outcome=revoked": ["AAAA1111"],
            f"from={today}&to={today}&outcome=created": ["BBBB2222-B001", "AAAA1111"],
            "to=2000-01-01": [],
        }
        for query, receipts in cases.items():
            items = session.get(f"{site_url}/@clickbank-log?{query}").json()["items"]
            assert [item["receipt"] for item in items] == receipts, query

    def test_paging(self, session, site_url):
        """60 records: 50 and a link to the next 10."""
        committed(*ignored(60))
        body = session.get(site_url + "/@clickbank-log").json()
        assert (body["items_total"], len(body["items"])) == (60, 50)
        assert "prev" not in body["batching"]
        following = session.get(body["batching"]["next"]).json()
        assert len(following["items"]) == 10
        assert "next" not in following["batching"]
        assert following["batching"]["last"] == body["batching"]["next"]

    def test_total_is_null_until_the_last_page_of_an_unindexed_filter(
        self, session, site_url
    ):
        """A type filter alone cannot be counted without reading the whole log."""
        committed(*ignored(3))
        body = session.get(site_url + "/@clickbank-log?type=SALE&b_size=2").json()
        assert body["items_total"] is None
        assert "last" not in body["batching"]
        following = session.get(body["batching"]["next"]).json()
        assert following["items_total"] == 3

    @pytest.mark.parametrize(
        "query", ["from=yesterday", "outcome=bogus", "b_size=0", "type=%3Cb%3E"]
    )
    def test_bad_input_is_400(self, session, site_url, query):
        """Bad filters are answered 400 in plone.restapi's error shape."""
        response = session.get(f"{site_url}/@clickbank-log?{query}")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "BadRequest" and error["message"]

    def test_record_with_payload(self, session, site_url):
        """One record, with the decrypted notification."""
        (sale,) = committed(notification(first_name=SCRIPT))
        response = session.get(f"{site_url}/@clickbank-log/{sale.record_id}")
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == sale.record_id and body["vendor"] == "testvendor"
        assert body["payload"]["customer"]["billing"]["firstName"] == SCRIPT

    @pytest.mark.parametrize("path", ["999", "abc", "1/2"])
    def test_unknown_record_is_404(self, session, site_url, path):
        """An unknown or malformed id is 404."""
        response = session.get(f"{site_url}/@clickbank-log/{path}")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "NotFound"

    @pytest.mark.parametrize(
        "path",
        [
            "@clickbank-member?email=Buyer@Example.com",
            "@clickbank-member/buyer@example.com",
        ],
    )
    def test_member(self, session, site_url, path):
        """The buyer's member, entitlements and history, by query or path."""
        committed(notification(), notification("RFND", days=2))
        response = session.get(f"{site_url}/{path}")
        assert response.status_code == 200
        body = response.json()
        assert body["email"] == "buyer@example.com"
        assert body["member"]["login"] == "buyer@example.com"
        (entitlement,) = body["entitlements"]
        assert (entitlement["receipt"], entitlement["item_no"]) == ("AAAA1111", "1")
        assert entitlement["state"] == "refunded"
        assert [item["transaction_type"] for item in body["history"]] == [
            "RFND",
            "SALE",
        ]

    def test_member_without_email_is_400(self, session, site_url):
        """The email is required."""
        response = session.get(site_url + "/@clickbank-member")
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "BadRequest"

    def test_unknown_member_is_404(self, session, site_url):
        """An email the log never saw is not found."""
        response = session.get(site_url + "/@clickbank-member?email=who@example.com")
        assert response.status_code == 404
        assert (
            response.json()["error"]["message"] == "Nothing is known about this buyer."
        )


class TestUserPageLink:
    """Plone's user page links to the buyer's ClickBank page."""

    def test_link_on_a_buyers_user_page(self, admin, site):
        """A manager sees the link on the user page of a buyer."""
        committed(notification(email="buyer@example.com"))
        buyer = members.find("buyer@example.com")
        admin.open(f"{site.absolute_url()}/@@user-information?userid={buyer.getId()}")
        assert "@@clickbank-member?email=buyer%40example.com" in admin.contents

    def test_no_link_for_other_users(self, admin, site):
        """A member the add-on knows nothing of gets no link."""
        transaction.commit()
        admin.open(f"{site.absolute_url()}/@@user-information?userid={TEST_USER_ID}")
        assert "@@clickbank-member" not in admin.contents
