"""Site Setup → ClickBank: the Classic UI form over the registry settings."""

from plone import api
from plone.app.registry.browser.controlpanel import ControlPanelFormWrapper
from plone.app.registry.browser.controlpanel import RegistryEditForm
from plone.z3cform import layout
from Products.statusmessages.interfaces import IStatusMessage
from z3c.form import button

from niteoweb.clickbank import _
from niteoweb.clickbank.interfaces import REGISTRY_PREFIX
from niteoweb.clickbank.interfaces import IClickBankSettings

#: Fields whose value is written but never rendered back to the browser.
SECRET_FIELDS = ("secret_key", "previous_secret_key")


def webhook_url() -> str:
    """The URL to paste into ClickBank's Instant Notification settings."""
    return api.portal.get().absolute_url() + "/@@clickbank"


class ClickBankSettingsForm(RegistryEditForm):
    """Edit the ClickBank settings; secret keys are write-only."""

    schema = IClickBankSettings
    schema_prefix = REGISTRY_PREFIX
    id = "clickbank-settings"
    label = _("ClickBank")

    @property
    def description(self):
        """Tell the admin where ClickBank must post."""
        return _(
            "Paid memberships through ClickBank. Paste this Instant Notification "
            "URL into your ClickBank account (version 6.0 or newer): ${url}",
            mapping={"url": webhook_url()},
        )

    def updateWidgets(self):
        """Never send a stored secret back in the HTML."""
        super().updateWidgets()
        for name in SECRET_FIELDS:
            widget = self.widgets[name]
            widget.value = ""
            configured = bool(getattr(self.getContent(), name, None))
            widget.placeholder = (
                _("A key is set. Leave empty to keep it.") if configured else None
            )

    def applyChanges(self, data):
        """Save; an empty secret field keeps the stored key."""
        for name in SECRET_FIELDS:
            if not data.get(name):
                data.pop(name, None)
        return super().applyChanges(data)

    @button.buttonAndHandler(_("Save"), name="save")
    def handleSave(self, action):
        """Save the settings (the base class's handler, re-declared for order)."""
        super().handleSave.func(self, action)

    @button.buttonAndHandler(_("Cancel"), name="cancel")
    def handleCancel(self, action):
        """Leave without saving."""
        super().handleCancel.func(self, action)

    @button.buttonAndHandler(_("Forget previous secret key"), name="forget_previous")
    def handleForgetPrevious(self, action):
        """End a key rotation: stop accepting the previous key."""
        self.getContent().previous_secret_key = None
        IStatusMessage(self.request).addStatusMessage(
            _("The previous secret key was removed."), "info"
        )
        self.request.response.redirect(self.request.getURL())


ClickBankControlPanel = layout.wrap_form(ClickBankSettingsForm, ControlPanelFormWrapper)
