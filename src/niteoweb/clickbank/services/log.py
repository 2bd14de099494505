"""REST services over the notification log, for site managers.

Bad input is answered 400, an unknown record or buyer 404, with the body
``{"error": {"type": ..., "message": ...}}``: returned, not raised, since
plone.rest renders a raised ``BadRequest`` or ``NotFound`` in another shape.
"""

from urllib.parse import urlencode

from plone.restapi.services import Service
from zope.interface import implementer
from zope.publisher.interfaces import IPublishTraverse

from niteoweb.clickbank import members
from niteoweb.clickbank.errors import error_body
from niteoweb.clickbank.storage import filters
from niteoweb.clickbank.storage import queries
from niteoweb.clickbank.storage.log import NotificationRecord
from niteoweb.clickbank.storage.orders import for_buyer
from niteoweb.clickbank.storage.root import read_storage


@implementer(IPublishTraverse)
class TraversingService(Service):
    """A service that takes the path segments after its name as parameters."""

    #: The name the service is registered under (``@...``).
    service_name = ""

    def __init__(self, context, request):
        super().__init__(context, request)
        self.params = []

    def publishTraverse(self, request, name):  # noqa: N802 - zope.publisher API
        """Keep ``name`` as a parameter instead of traversing to it."""
        self.params.append(name)
        return self

    def error(self, status: int, kind: str, message: str) -> dict:
        """Set ``status`` and return plone.restapi's error body."""
        self.request.response.setStatus(status)
        return error_body(kind, message)

    @property
    def service_url(self) -> str:
        """The URL of this service on the site root, without parameters."""
        return f"{self.context.absolute_url()}/{self.service_name}"

    def record_item(self, record: NotificationRecord) -> dict:
        """A record as listed: its summary and the URL of its detail."""
        url = f"{self.context.absolute_url()}/{LogGet.service_name}/{record.id}"
        return {"@id": url, **queries.summary(record)}


class LogGet(TraversingService):
    """``GET @clickbank-log`` and ``GET @clickbank-log/<id>``."""

    service_name = "@clickbank-log"

    def reply(self):
        """A page of the log, or one record with its payload."""
        if len(self.params) > 1:
            return self.error(404, "NotFound", "No such ClickBank log resource.")
        if self.params:
            return self.reply_record(self.params[0])
        try:
            query = filters.parse_query(self.request.form)
            b_start, b_size = filters.parse_batch(self.request.form)
        except filters.InvalidLogQuery as error:
            return self.error(400, "BadRequest", str(error))
        page = queries.search(read_storage(), query, b_start, b_size)
        batching = self.batching(query, page)
        return {
            "@id": batching["@id"],
            "items_total": page.total,
            "items": [self.record_item(record) for record in page.records],
            "batching": batching,
        }

    def reply_record(self, record_id: str) -> dict:
        """One record with its decrypted notification (None once blanked)."""
        record = queries.get_record(read_storage(), record_id)
        if record is None:
            return self.error(
                404, "NotFound", "No ClickBank notification with this id."
            )
        return {
            **self.record_item(record),
            "vendor": record.vendor,
            "role": record.role,
            "attempt_count": record.attempt_count,
            "payload": record.payload or None,
        }

    def batching(self, query: filters.LogQuery, page: queries.Page) -> dict:
        """Links to this, the first, previous, next and (when known) last page."""
        size = page.b_size
        last = None if page.total is None else max(page.total - 1, 0) // size * size
        starts = {
            "@id": page.b_start,
            "first": 0,
            "prev": page.previous_start,
            "next": page.next_start,
            "last": last,
        }
        return {
            name: query.url(self.service_url, b_start=start, b_size=size)
            for name, start in starts.items()
            if start is not None
        }


class MemberGet(TraversingService):
    """``GET @clickbank-member?email=`` and ``GET @clickbank-member/<email>``."""

    service_name = "@clickbank-member"

    def reply(self):
        """The buyer's member, entitlements and notifications, newest first."""
        if len(self.params) > 1:
            return self.error(404, "NotFound", "No such ClickBank buyer resource.")
        email = self.params[0] if self.params else self.request.form.get("email", "")
        email = members.normalize_email(email if isinstance(email, str) else "")
        if not email:
            return self.error(400, "BadRequest", "Give the buyer's email address.")
        storage = read_storage()
        member = members.find(email)
        owned = for_buyer(storage, email)
        history = queries.history(storage, email)
        if member is None and not owned and not history:
            return self.error(404, "NotFound", "Nothing is known about this buyer.")
        return {
            "@id": f"{self.service_url}?{urlencode({'email': email})}",
            "email": email,
            "member": self.member_item(member),
            "entitlements": [queries.entitlement_summary(e) for e in owned],
            "history": [self.record_item(record) for record in history],
        }

    def member_item(self, member) -> dict | None:
        """The member's id, login, full name and ``@users`` URL; None if none."""
        if member is None:
            return None
        return {
            "@id": f"{self.context.absolute_url()}/@users/{member.getId()}",
            "id": member.getId(),
            "login": member.getUserName(),
            "fullname": member.getProperty("fullname", ""),
        }
