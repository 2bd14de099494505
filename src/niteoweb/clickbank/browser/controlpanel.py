"""Site Setup → ClickBank: the Classic UI form over the registry settings, and
its "Send test notification" button."""

import json
from io import BytesIO

from plone import api
from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.z3cform import layout
from plone.z3cform.fieldsets.utils import add
from Products.Five.browser.pagetemplatefile import ViewPageTemplateFile
from Products.statusmessages.interfaces import IStatusMessage
from z3c.form import button
from z3c.form.interfaces import WidgetActionExecutionError
from zope import schema
from zope.interface import Invalid
from ZPublisher.HTTPRequest import HTTPRequest
from ZPublisher.HTTPResponse import HTTPResponse

from niteoweb.clickbank import _
from niteoweb.clickbank.browser.webhook import ClickBankView
from niteoweb.clickbank.errors import NotConfiguredError
from niteoweb.clickbank.ins.crypto import encrypt
from niteoweb.clickbank.ins.model import TEST_RECEIPT
from niteoweb.clickbank.interfaces import REGISTRY_PREFIX
from niteoweb.clickbank.interfaces import IClickBankSettings
from niteoweb.clickbank.products import SettingsInvalid
from niteoweb.clickbank.scripts.notify import build_notification
from niteoweb.clickbank.secretkeys import REGISTRY
from niteoweb.clickbank.secretkeys import SECRET_FIELDS
from niteoweb.clickbank.secretkeys import SERVER
from niteoweb.clickbank.secretkeys import UNREADABLE
from niteoweb.clickbank.secretkeys import read_keys
from niteoweb.clickbank.secretkeys import server_keys
from niteoweb.clickbank.settings import check_product_groups
from niteoweb.clickbank.settings import get_settings
from niteoweb.clickbank.storage.queries import newest
from niteoweb.clickbank.storage.root import get_storage

#: A form-only field (not a registry record).
CREATE_GROUPS = "create_missing_groups"

create_missing_groups = schema.Bool(
    __name__=CREATE_GROUPS,
    title=_("Create missing groups"),
    description=_(
        "Tick to create the groups named in the product list that do not exist "
        "yet. Otherwise a product list naming an unknown group is refused."
    ),
    required=False,
    default=False,
)


def send_test_notification(portal) -> tuple:
    """Deliver a ``TEST`` notification like ClickBank's Test button's to ``portal``.

    It is encrypted with the current secret key and handed to ``@@clickbank``
    in-process, in a request of its own: the answer and the new log entry show
    whether the key and the endpoint work, without a ClickBank account.

    :param portal: [required] the site.
    :returns: ``(status, answer, entry)``: the HTTP status, the JSON answer as a
        dict and the new log entry (None if there is none).
    :raises NotConfiguredError: when no secret key is set.
    """
    settings = get_settings()
    if not settings.secret_keys:
        raise NotConfiguredError("no secret key is set")
    payload = build_notification(
        transaction_type="TEST",
        receipt=TEST_RECEIPT,
        vendor=min(settings.vendors, default="testvendor"),
        email="test@example.com",
    )
    body = encrypt(payload, settings.secret_keys[0])
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "PATH_INFO": "/@@clickbank",
    }
    request = HTTPRequest(BytesIO(body), environ, HTTPResponse())
    request.processInputs()
    storage = get_storage(portal)
    before = newest(storage, 1)
    answer = json.loads(ClickBankView(portal, request)())
    after = newest(storage, 1)
    entry = after[0] if after and after != before else None
    return request.response.getStatus(), answer, entry


class ClickBankSettingsForm(RegistryEditForm):
    """Edit the ClickBank settings; secret keys are write-only."""

    schema = IClickBankSettings
    schema_prefix = REGISTRY_PREFIX
    id = "clickbank-settings"
    label = _("ClickBank")

    def updateFields(self):
        """Add the 'create missing groups' checkbox; leave out server-set keys."""
        super().updateFields()
        # The server configuration's key wins: not editable here.
        self.fields = self.fields.omit(*server_keys())
        add(self, create_missing_groups, index=list(self.fields).index("products") + 1)
        self.fields[CREATE_GROUPS].ignoreContext = True

    def updateWidgets(self):
        """Never send a stored secret back in the HTML."""
        super().updateWidgets()
        keys = read_keys()
        for name in SECRET_FIELDS:
            if name in self.widgets:
                self.widgets[name].value = ""
                readable = keys.get(name, (None, None))[0] == REGISTRY
                self.widgets[name].placeholder = (
                    _("A key is set. Leave empty to keep it.") if readable else None
                )

    def applyChanges(self, data):
        """Save after checking the product groups; an empty secret keeps the key."""
        self._check_groups(
            data["products"], data["member_role"], data.pop(CREATE_GROUPS)
        )
        for name in SECRET_FIELDS:
            if not data.get(name):
                data.pop(name, None)
        return super().applyChanges(data)

    def _check_groups(self, products, member_role, create: bool) -> None:
        """Refuse unknown groups, or create them when the admin asked to."""
        try:
            missing = check_product_groups(products, member_role)
        except SettingsInvalid as error:
            raise WidgetActionExecutionError("products", error) from None
        if not missing:
            return
        if not create:
            raise WidgetActionExecutionError(
                "products",
                Invalid(
                    _(
                        "These groups do not exist: ${groups}. Create them in Users "
                        "and Groups, or tick 'Create missing groups'.",
                        mapping={"groups": ", ".join(missing)},
                    )
                ),
            )
        for group_id in missing:
            api.group.create(groupname=group_id, title=group_id)
        IStatusMessage(self.request).addStatusMessage(
            _("Groups created: ${groups}", mapping={"groups": ", ".join(missing)}),
            "info",
        )

    @button.buttonAndHandler(_("Save"), name="save")
    def handleSave(self, action):
        """Save the settings; :meth:`applyChanges` checks the product groups."""
        super().handleSave.func(self, action)

    @button.buttonAndHandler(_("Cancel"), name="cancel")
    def handleCancel(self, action):
        """Leave without saving."""
        super().handleCancel.func(self, action)

    @button.buttonAndHandler(_("Send test notification"), name="send_test")
    def handleSendTest(self, action):
        """Deliver a TEST notification to this site's endpoint and show the result."""
        messages = IStatusMessage(self.request)
        try:
            status, answer, entry = send_test_notification(self.context)
        except NotConfiguredError:
            messages.addStatusMessage(
                _("Set and save the secret key before sending a test notification."),
                "error",
            )
            return
        mapping = {
            "status": str(status),
            "outcome": answer.get("outcome") or answer["error"]["message"],
            "entry": str(entry.id) if entry is not None else "-",
        }
        if 200 <= status < 300:
            messages.addStatusMessage(
                _(
                    "Test notification delivered: HTTP ${status}, outcome "
                    "${outcome}, log entry ${entry}.",
                    mapping=mapping,
                ),
                "info",
            )
        else:
            messages.addStatusMessage(
                _(
                    "Test notification failed: HTTP ${status} (${outcome}).",
                    mapping=mapping,
                ),
                "error",
            )
        self.request.response.redirect(self.request.getURL())

    @button.buttonAndHandler(
        _("Forget previous secret key"),
        name="forget_previous",
        condition=lambda form: bool(form.getContent().previous_secret_key),
    )
    def handleForgetPrevious(self, action):
        """End a key rotation: stop accepting the previous key."""
        self.getContent().previous_secret_key = None
        IStatusMessage(self.request).addStatusMessage(
            _("The previous secret key was removed."), "info"
        )
        self.request.response.redirect(self.request.getURL())


class ClickBankControlPanelWrapper(ControlPanelFormWrapper):
    """The control panel page: webhook URL, links to the log and sweep, the form."""

    index = ViewPageTemplateFile("templates/controlpanel.pt")

    def key_notes(self) -> list:
        """Keys the form does not offer (set by the server) or cannot open."""
        notes = []
        for name, (source, _key) in read_keys().items():
            mapping = {"field": IClickBankSettings[name].title}
            if source == SERVER:
                notes.append(
                    _("${field}: set by the server configuration.", mapping=mapping)
                )
            elif source == UNREADABLE:
                notes.append(
                    _(
                        "${field}: the stored key can no longer be read (the "
                        "site's secret it was sealed with is gone). Enter it again.",
                        mapping=mapping,
                    )
                )
        return notes


ClickBankControlPanel = layout.wrap_form(
    ClickBankSettingsForm, ClickBankControlPanelWrapper
)
