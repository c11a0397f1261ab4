"""Container paths the compiled pods and the runtime agree on (docs/runtime-contract.md, "Writable paths" and
"Registry credentials"). The compiler imports these constants, so this module imports nothing.

Our containers run as uid 1000 with a read-only root filesystem: they can write only to their volumes, and can
read only what uid 1000 may traverse (not ``/root``, which is 0700 in the images).
"""

SCRATCH_DIR = "/tmp"  # the pod's `tmp` emptyDir; HOME of every container that writes scratch files
HF_HOME = "/tmp/huggingface"  # Hugging Face token, xet, datasets and remote-code module caches
DOCKER_CONFIG_DIR = "/mnt/docker-config"  # $DOCKER_CONFIG of the pusher: config.json from the push secret
PULL_SECRETS_DIR = "/mnt/pull-secrets"  # pullers: <one folder per secrets volume>/<secret>.json
