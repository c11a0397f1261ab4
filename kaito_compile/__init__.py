"""kaito-compile: Kaito Workspaces compiled ahead of time into GitOps manifests."""

__version__ = "0.1.0"
