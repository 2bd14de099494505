"""Sphinx configuration of the niteoweb.clickbank documentation.

Build with ``make docs`` (warnings are errors).
"""

project = "niteoweb.clickbank"
author = "NiteoWeb Ltd."
copyright = "NiteoWeb Ltd."  # noqa: A001 - Sphinx's name for it
version = "1.0.0.dev0"
release = version

extensions = []
exclude_patterns = ["_build"]
root_doc = "index"
language = "en"
pygments_style = "sphinx"

html_theme = "alabaster"
html_title = f"{project} {release}"
html_theme_options = {
    "description": "Paid Plone memberships through ClickBank Instant Notifications",
    "github_user": "niteoweb",
    "github_repo": "niteoweb.clickbank",
    "github_button": False,
    "fixed_sidebar": True,
}
html_show_sourcelink = False
