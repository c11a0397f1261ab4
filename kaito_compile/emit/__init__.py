"""Stage 5, emit: Plans → Kubernetes objects, built with cdk8s, returned as plain dicts.

:mod:`.emitter` builds batches of workspaces' objects with cdk8s; :mod:`.pipeline` runs it beside the rest of a
build. Importing this package starts neither cdk8s nor node.
"""

import os

# jsii prints a banner on every start under node 20 (past its end of life), which would land in every build's output
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
