"""The one image-reference parser (kaito_runtime.imageref), used by the compiler's rules and the runtime's
puller: distribution's ``ParseDockerRef`` with Go regex semantics (true end of string, ASCII) and its messages."""

from __future__ import annotations

import pytest

from kaito_runtime.imageref import InvalidReference, parse_docker_ref, parse_normalized

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "docker_ref"),
    [
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("index.docker.io/kaito/adapter:1", "docker.io/kaito/adapter:1"),
        ("localhost/a", "localhost/a:latest"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
        ("[::1]:5000/a:1", "[::1]:5000/a:1"),
        ("Registry.Example.com/a:T_1.x", "Registry.Example.com/a:T_1.x"),
        ("UPPER/case:1", "UPPER/case:1"),  # an upper-case first component is a domain
        (f"ghcr.io/o/a:1@{DIGEST}", f"ghcr.io/o/a@{DIGEST}"),  # both given: the digest wins
        ("a__b/c---d.e_f:1", "docker.io/a__b/c---d.e_f:1"),
    ],
)
def test_references_normalise_as_parse_docker_ref_does(text: str, docker_ref: str) -> None:
    assert str(parse_docker_ref(text)) == docker_ref


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference format"),
        ("ghcr.io/o/a:1\n", "invalid reference format"),  # Go's $ is the true end of the string
        ("ghcr.io/o/a\n", "invalid reference format"),
        ("ghcr.io/o/a:1\u00e9", "invalid reference format"),  # Go's \w is ASCII
        ("ghcr.io/o/\u0430:1", "invalid reference format"),  # Cyrillic a, lower case in Unicode
        ("ghcr.io/o/a:\u0661", "invalid reference format"),  # Arabic-Indic digit one
        ("ghcr.io/o/a:", "invalid reference format"),
        ("ghcr.io/o/-a:1", "invalid reference format"),
        ("ghcr.io/o/A:1", "invalid reference format: repository name (o/A) must be lowercase"),
        ("Foo@" + DIGEST, "invalid reference format: repository name (library/Foo@sha256) must be lowercase"),
        ("0123456789abcdef" * 4, "cannot specify 64-byte hexadecimal strings"),
        ("ghcr.io/" + "a" * 250 + ":1", "repository name must not be more than 255 characters"),
        ("ghcr.io/o/a@sha256:" + "a" * 40, "invalid checksum digest length"),
        ("ghcr.io/o/a@sha256:" + "A" * 64, "invalid checksum digest format"),
        ("ghcr.io/o/a@md5:" + "a" * 32, "unsupported digest algorithm"),
    ],
)
def test_invalid_references_get_distributions_message(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as caught:
        parse_docker_ref(text)
    assert message in str(caught.value)


def test_parse_normalized_keeps_an_absent_tag_absent() -> None:
    """The puller refuses the implicit ``latest``, so it must see that no tag was written."""
    assert parse_normalized("ghcr.io/o/a").tag is None
    assert parse_docker_ref("ghcr.io/o/a").tag == "latest"


def test_the_compiler_has_no_parser_of_its_own() -> None:
    from kaito_compile.rules import datasource
    from kaito_runtime import imageref

    assert datasource.parse_docker_ref is imageref.parse_docker_ref
