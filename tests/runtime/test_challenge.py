"""The one WWW-Authenticate reader (kaito_runtime.challenge), used by the runtime's puller/pusher and the
compiler's push; both clients' end-to-end auth runs are tests/runtime/test_artifact.py and
tests/gitops/test_push*.py."""

from __future__ import annotations

import pytest

from kaito_runtime.challenge import parse_challenge

DOCKER_HUB = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
              'scope="repository:library/ubuntu:pull"')


@pytest.mark.parametrize(("header", "expected"), [
    (DOCKER_HUB, ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                             "scope": "repository:library/ubuntu:pull"})),
    ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
    # scheme and names are case-insensitive; values may be tokens; spaces around "=" and "," are allowed
    ('BEARER Realm = "https://a.example/t" ,  Service=registry.example', (
        "bearer", {"realm": "https://a.example/t", "service": "registry.example"})),
    ('Bearer realm="https://a.example/t",,service="s"', ("bearer", {"realm": "https://a.example/t", "service": "s"})),
    # quoted-pairs are unescaped, and a comma or "=" inside quotes is part of the value
    (r'Bearer realm="https://a.example/t",error_description="bad \"scope\", retry=no"', (
        "bearer", {"realm": "https://a.example/t", "error_description": 'bad "scope", retry=no'})),
    ("Negotiate", ("negotiate", {})),
    ("", ("", {})),
    ("   ", ("", {})),
])
def test_reads_the_scheme_and_its_parameters(header, expected):
    assert parse_challenge(header) == expected


@pytest.mark.parametrize("header", [
    'Bearer x-realm="https://evil.example/",realm="https://good.example/"',  # "realm" inside another name
    'Bearer service="a, realm=\\"https://evil.example/\\"",realm="https://good.example/"',  # ... inside a value
    'Bearer realm="https://good.example/",realm="https://evil.example/"',  # repeated: the first counts
    'Bearer realm="https://good.example/", Basic realm="https://evil.example/"',  # a second challenge
])
def test_the_realm_is_only_ever_a_whole_parameter_of_the_first_challenge(header):
    assert parse_challenge(header)[1]["realm"] == "https://good.example/"


def test_parameters_stop_at_text_that_is_not_one():
    assert parse_challenge('Bearer realm="https://a.example/t" junk, service="s"') == ("bearer", {})
    assert parse_challenge('Bearer realm="https://a.example/t", junk') == ("bearer", {"realm": "https://a.example/t"})
