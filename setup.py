"""Where the wheel's files come from (pyproject.toml holds everything else; setuptools reads both).

Besides the two packages (``kaito_runtime`` lives in ``runtime/``), the wheel carries the repository's
``presets/`` and ``schemas/`` as package data under ``kaito_compile/_data/`` (kaito_compile/datadir.py finds them
there when installed, beside the package in a checkout). They stay at the repository root; each is mapped to a
package name here. pyproject.toml cannot say this: its ``packages.find`` table cannot be combined with a list of
mapped packages, so the package list is computed here.
"""

from setuptools import find_namespace_packages, setup

DATA = {"kaito_compile._data.presets": ("presets", ["*.yaml"]), "kaito_compile._data.schemas": ("schemas", ["*.json"])}

setup(
    packages=[*find_namespace_packages(".", include=["kaito_compile*"]),
              *find_namespace_packages("runtime", include=["kaito_runtime*"]), *DATA],
    package_dir={"kaito_compile": "kaito_compile", "kaito_runtime": "runtime/kaito_runtime",
                 **{package: directory for package, (directory, _) in DATA.items()}},
    package_data={package: patterns for package, (_, patterns) in DATA.items()},
)
