"""Installer for the niteoweb.clickbank package."""

from pathlib import Path

from setuptools import find_namespace_packages
from setuptools import setup

HERE = Path(__file__).parent
long_description = "\n\n".join(
    (HERE / name).read_text(encoding="utf-8") for name in ("README.rst", "CHANGES.rst")
)

setup(
    name="niteoweb.clickbank",
    version="1.0.0.dev0",
    description="Sell paid Plone memberships through ClickBank Instant Notifications.",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    classifiers=[
        "Development Status :: 4 - Beta",
        "Environment :: Web Environment",
        "Framework :: Plone",
        "Framework :: Plone :: 6.2",
        "Framework :: Plone :: Addon",
        "Operating System :: OS Independent",
        "Programming Language :: Python",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Office/Business :: Financial :: Point-Of-Sale",
    ],
    keywords="Plone ClickBank membership payments INS",
    author="NiteoWeb Ltd.",
    author_email="info@niteo.co",
    url="https://github.com/niteoweb/niteoweb.clickbank",
    license="BSD-3-Clause",
    packages=find_namespace_packages("src", include=["niteoweb.*"]),
    package_dir={"": "src"},
    include_package_data=True,
    zip_safe=False,
    python_requires=">=3.11",
    install_requires=[
        "setuptools",
        "Products.CMFPlone>=6.2",
        "plone.api",
        "plone.app.registry",
        "plone.restapi",
        "z3c.form",
        "pycryptodome",
    ],
    extras_require={
        "test": [
            "plone.app.testing",
            "plone.testing",
            "pytest",
            "pytest-plone",
            "zope.testbrowser",
            "hypothesis",
            "requests",
            "aiosmtpd",
            "playwright",
            "ZEO",
        ],
    },
    entry_points={
        "z3c.autoinclude.plugin": ["target = plone"],
        "console_scripts": [
            "clickbank-notify = niteoweb.clickbank.scripts.notify:main",
            "clickbank-expire = niteoweb.clickbank.scripts.expire:main",
        ],
    },
)
