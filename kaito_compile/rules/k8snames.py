"""Kubernetes name formats (apimachinery's IsDNS1123Label & co.), with the API server's wording; the regexes
are Go's (anchored at the true end, ASCII only: a trailing newline or a non-ASCII letter is refused)."""

from __future__ import annotations

from ..goregex import go_regex

_LABEL = go_regex(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = go_regex(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = go_regex(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def dns1123_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _LABEL.match(value):
        errors.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                      "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')")
    return errors


def dns1035_label_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not _DNS1035.match(value):
        errors.append("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                      "alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')")
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not _SUBDOMAIN.match(value):
        errors.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character (e.g. 'example.com')")
    return errors


_LABEL_NAME = go_regex(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")


def label_key_errors(key: str) -> list[str]:
    """apimachinery's IsQualifiedName: ``[prefix/]name``, prefix a DNS subdomain, name ≤63 of [A-Za-z0-9-_.]."""
    prefix, slash, name = key.rpartition("/")
    errors = []
    if slash and (not prefix or dns1123_subdomain_errors(prefix)):
        errors.append("the prefix before '/' must be a lowercase DNS subdomain")
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        errors.append("the name must be at most 63 characters of letters, digits, '-', '_' or '.', starting and "
                      "ending with a letter or digit")
    return errors


def label_value_errors(value: str) -> list[str]:
    if value == "":
        return []
    if len(value) > 63 or not _LABEL_NAME.match(value):
        return ["a label value must be at most 63 characters of letters, digits, '-', '_' or '.', starting and "
                "ending with a letter or digit"]
    return []
