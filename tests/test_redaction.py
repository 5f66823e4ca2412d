"""What must never be printed: secret-looking names and credentials in URLs, as tables."""

from __future__ import annotations

import pytest

from multiarch_tasks.model.redaction import (
    looks_secret,
    mask_secret_assignments,
    name_parts,
    scrub_text,
    scrub_url,
    scrub_urls,
)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("PASSWORD", True),
        ("DB_PASSWORD", True),
        ("db_passwd", True),
        ("API_TOKEN", True),
        ("GITHUB_TOKEN", True),
        ("npmAuthToken", True),
        ("NPM_AUTH", True),
        ("API_KEY", True),
        ("apiKey", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("AWS_ACCESS_KEY_ID", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", True),
        ("SSH_PRIVATE_KEY", True),
        ("DBPASSWORD", True),
        ("GITHUBTOKEN", True),
        ("KEYBOARD_LAYOUT", False),
        ("MONKEY", False),
        ("TOKENIZER_VERSION", False),
        ("AUTHOR", False),
        ("PUBLIC_KEY", False),
        ("GO_VERSION", False),
        ("BASE", False),
        ("TARGETPLATFORM", False),
        ("PATH", False),
    ],
)
def test_looks_secret(name: str, secret: bool) -> None:
    assert looks_secret(name) is secret


def test_name_parts_split_snake_camel_and_dots() -> None:
    assert name_parts("npmAuthToken") == ["NPM", "AUTH", "TOKEN"]
    assert name_parts("APIKey") == ["API", "KEY"]
    assert name_parts("db.pass-word_2") == ["DB", "PASS", "WORD", "2"]


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:s3cret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://ghp_TOKEN@github.com/o/r.git", "https://github.com/o/r.git"),
        (
            "https://oauth2:glpat-x@gitlab.example/g/app.git?private_token=X&ref=main",
            "https://gitlab.example/g/app.git?ref=main",
        ),
        ("https://h/x?token=abc", "https://h/x"),
        ("https://h/x?a=1&access_token=abc&b=2", "https://h/x?a=1&b=2"),
        (
            "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=A&X-Amz-Signature=S&v=1",
            "https://bucket.s3.amazonaws.com/k?v=1",
        ),
        (
            "https://acct.blob.core.windows.net/c/b?sv=2&sig=SIG",
            "https://acct.blob.core.windows.net/c/b?sv=2",
        ),
        ("https://h/x?Password=p#frag", "https://h/x#frag"),
        ("ssh://me:pw@arm-box:22/x", "ssh://me@arm-box:22/x"),
        ("ssh://me@arm-box", "ssh://me@arm-box"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("not a url", "not a url"),
    ],
)
def test_scrub_url(url: str, clean: str) -> None:
    assert scrub_url(url) == clean


def test_scrub_urls_in_text_keeps_the_rest() -> None:
    text = "fatal: unable to access 'https://x:tok@h/r.git/': 403; see https://h/help?token=t"
    assert scrub_urls(text) == "fatal: unable to access 'https://h/r.git/': 403; see https://h/help"
    label = "org.opencontainers.image.source=https://u:p@h/r"
    assert scrub_urls(label) == "org.opencontainers.image.source=https://h/r"
    assert scrub_urls("plain text") == "plain text"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("API_TOKEN=abc123", "API_TOKEN=***"),
        (
            "--build-arg DB_PASSWORD=hunter2 --build-arg BASE=img",
            "--build-arg DB_PASSWORD=*** --build-arg BASE=img",
        ),
        ("'DB_PASSWORD=two words'", "'DB_PASSWORD=***'"),
        ("['API_TOKEN=s1', 'GO_VERSION=1.22']", "['API_TOKEN=***', 'GO_VERSION=1.22']"),
        ("{'API_TOKEN': 'cfg', 'BASE': 'img'}", "{'API_TOKEN': '***', 'BASE': 'img'}"),
        ('{"npmAuthToken": "a\\"b", "x": "y"}', '{"npmAuthToken": "***", "x": "y"}'),
        # Options and specs whose words only name secrets stay readable.
        ("--secret id=tok,env=MY_TOK", "--secret id=tok,env=MY_TOK"),
        ("--secret=id=API_TOKEN,env=API_TOKEN", "--secret=id=API_TOKEN,env=API_TOKEN"),
        ("RUN --mount=type=secret,id=tok", "RUN --mount=type=secret,id=tok"),
        ("KEYBOARD=us MONKEY=1 PUBLIC_KEY=ssh-ed", "KEYBOARD=us MONKEY=1 PUBLIC_KEY=ssh-ed"),
        ("{'token': ''}", "{'token': ''}"),
    ],
)
def test_mask_secret_assignments_hides_values_of_secret_looking_names_only(
    text: str, shown: str
) -> None:
    assert mask_secret_assignments(text) == shown


def test_scrub_text_masks_assignments_and_scrubs_urls_together() -> None:
    text = "U=postgres://app:pw1@db/x HOOK=https://h/n?token=t1&ref=main API_KEY=k1"
    assert scrub_text(text) == "U=postgres://app@db/x HOOK=https://h/n?ref=main API_KEY=***"
