"""The product list of the settings: which ClickBank item gives which groups."""

from dataclasses import dataclass

from zope.i18n import interpolate
from zope.interface import Invalid

from niteoweb.clickbank import _


class SettingsInvalid(Invalid):
    """A settings value is refused; ``str()`` is the message with its values.

    Forms translate the message; REST clients get ``str(error)``, which would
    otherwise show the raw ``${...}`` placeholders.
    """

    def __str__(self):
        message = self.args[0]
        mapping = {
            key: interpolate(str(value), getattr(value, "mapping", None))
            for key, value in (getattr(message, "mapping", None) or {}).items()
        }
        return interpolate(str(message), mapping)


@dataclass(frozen=True)
class ProductRule:
    """What buying one ClickBank product (``itemNo``) gives on this site."""

    item_no: str
    groups: tuple[str, ...] = ()
    access_days: int | None = None
    billing_days: int | None = None


def _days(text: str, what: str, line: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SettingsInvalid(
            _(
                "Product line '${line}': ${what} must be a whole number of days "
                "(1 or more) or empty.",
                mapping={"line": line, "what": what},
            )
        )
    return int(text)


def parse_product_line(line: str) -> ProductRule:
    """Parse ``item | group, group | access days | billing days``.

    Raises :class:`zope.interface.Invalid` with a message for the admin.
    """
    parts = [part.strip() for part in line.split("|")]
    if len(parts) > 4:
        raise SettingsInvalid(
            _(
                "Product line '${line}' has more than four parts separated by '|'.",
                mapping={"line": line},
            )
        )
    parts += [""] * (4 - len(parts))
    item_no, groups, access_days, billing_days = parts
    if not item_no or any(ch.isspace() for ch in item_no) or len(item_no) > 64:
        raise SettingsInvalid(
            _(
                "Product line '${line}' must start with a ClickBank item number "
                "(no spaces).",
                mapping={"line": line},
            )
        )
    group_ids = tuple(g.strip() for g in groups.split(",") if g.strip())
    return ProductRule(
        item_no=item_no,
        groups=group_ids,
        access_days=_days(access_days, _("access days"), line),
        billing_days=_days(billing_days, _("billing period days"), line),
    )


def parse_product_lines(lines) -> dict[str, ProductRule]:
    """Parse the product list; raises ``Invalid`` on a bad or duplicate line."""
    rules: dict[str, ProductRule] = {}
    for line in lines or ():
        if not line or not line.strip():
            continue
        rule = parse_product_line(line)
        if rule.item_no in rules:
            raise SettingsInvalid(
                _(
                    "Item number '${item}' is listed more than once.",
                    mapping={"item": rule.item_no},
                )
            )
        rules[rule.item_no] = rule
    return rules
