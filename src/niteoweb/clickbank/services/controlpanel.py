"""``@controlpanels/clickbank``: the REST control panel over the same schema."""

from plone.restapi.controlpanels import IControlpanel
from plone.restapi.controlpanels import RegistryConfigletPanel
from plone.restapi.deserializer import json_body
from plone.restapi.deserializer.controlpanels import ControlpanelDeserializeFromJson
from plone.restapi.interfaces import IDeserializeFromJson
from plone.restapi.interfaces import ISerializeToJson
from plone.restapi.serializer.controlpanels import ControlpanelSerializeToJson
from zExceptions import BadRequest
from zope.component import adapter
from zope.interface import implementer

from niteoweb.clickbank.interfaces import REGISTRY_PREFIX
from niteoweb.clickbank.interfaces import IClickBankSettings
from niteoweb.clickbank.products import SettingsInvalid
from niteoweb.clickbank.secretkeys import SECRET_FIELDS
from niteoweb.clickbank.secretkeys import read_keys
from niteoweb.clickbank.settings import check_product_groups


class IClickBankControlpanel(IControlpanel):
    """The ClickBank REST control panel."""


@implementer(IClickBankControlpanel)
class ClickBankControlpanel(RegistryConfigletPanel):
    """Registry-backed control panel, configlet ``clickbank``."""

    schema = IClickBankSettings
    schema_prefix = REGISTRY_PREFIX
    configlet_id = "clickbank"
    configlet_category_id = "plone-users"


@implementer(ISerializeToJson)
@adapter(IClickBankControlpanel)
class ClickBankControlpanelSerializer(ControlpanelSerializeToJson):
    """Serialize the settings; secret keys are reported as set or not, never shown.

    ``secret_keys_set`` says which keys are usable; ``secret_keys_source`` where
    each comes from: ``"server"`` (zope.conf or the environment, not editable
    here), ``"registry"``, ``"unreadable"`` (to be entered again) or ``null``.
    """

    def __call__(self):
        result = super().__call__()
        data = result.get("data", {})
        for name in SECRET_FIELDS:
            if name in data:
                data[name] = ""
        keys = dict.fromkeys(SECRET_FIELDS, (None, None)) | read_keys()
        result["secret_keys_set"] = {name: bool(key) for name, (_, key) in keys.items()}
        result["secret_keys_source"] = {
            name: source for name, (source, _) in keys.items()
        }
        return result


@implementer(IDeserializeFromJson)
@adapter(IClickBankControlpanel)
class ClickBankControlpanelDeserializer(ControlpanelDeserializeFromJson):
    """Save the settings.

    An empty string for a secret key keeps the stored key (what a form sends back
    for a field it was never shown); ``null`` removes it.
    """

    def __call__(self, mask_validation_errors=True):
        data = json_body(self.controlpanel.request)
        proxy = self.registry.forInterface(self.schema, prefix=self.schema_prefix)
        kept = {
            name: getattr(proxy, name) for name in SECRET_FIELDS if data.get(name) == ""
        }
        super().__call__(mask_validation_errors=mask_validation_errors)
        for name, value in kept.items():
            setattr(proxy, name, value)
        try:
            missing = check_product_groups(proxy.products, proxy.member_role)
        except SettingsInvalid as error:
            raise _products_error(str(error)) from None
        if missing:
            raise _products_error(
                f"These groups do not exist: {', '.join(missing)}. "
                "Create them first (@groups)."
            )


def _products_error(message: str) -> BadRequest:
    """A 400 about the product list, in the shape of the field validation errors."""
    return BadRequest(
        [{"field": "products", "error": "ValidationError", "message": message}]
    )
