"""``GET @registry`` without the secret keys.

The keys are registry records (so ``PATCH @registry`` can set them), but no
answer of this add-on's site shows them: the generic registry service is
replaced, while the add-on is installed, by one that blanks them.
"""

from plone.restapi.services.registry.get import RegistryGet

from niteoweb.clickbank.browser.controlpanel import SECRET_FIELDS
from niteoweb.clickbank.interfaces import REGISTRY_PREFIX

#: Full names of the records never shown.
SECRET_RECORDS = frozenset(f"{REGISTRY_PREFIX}.{name}" for name in SECRET_FIELDS)


class RegistryGetWithoutSecrets(RegistryGet):
    """Plone's ``@registry`` GET, with the secret keys blanked."""

    def reply(self):
        """The registry service's answer, secret key values replaced by ``""``."""
        result = super().reply()
        if self.params:
            return "" if self._get_record_name in SECRET_RECORDS else result
        for item in result.get("items", ()):
            if item.get("name") in SECRET_RECORDS:
                item["value"] = ""
        return result
