"""The package version, alone, so that no module needs to import the package root."""

__version__ = "0.2.0.dev0"
