"""Wiring the compiled ``out/`` tree into GitOps engines.

``sync`` holds the per-kind sync order that every emitted object carries (Argo CD sync waves, dry-run
skipping for custom resources); ``argocd`` and ``flux`` generate the objects that make Argo CD or Flux sync
one Application or Kustomization per workspace directory (``layout`` finds those directories in the ownership
lock and names them); ``cli`` is the ``kaito-compile gitops`` command.

Delivery without committing ``out/``: ``render`` turns a compiled tree into one YAML stream (an Argo CD config
management plugin's output; ``argocd_plugin`` writes that plugin and its repo-server sidecar);
``flux_artifact`` packs a compiled tree as Flux's OCI artifact and ``registry`` pushes it; ``delivery_cli``
holds the ``kaito-compile render`` and ``push`` commands.
"""
