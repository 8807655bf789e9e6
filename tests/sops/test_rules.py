"""sops rule regexes matched with Go's meaning, without backtracking (issue 25 item 5), and huge numbers (item 6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from minnova_idp.sops import document as sops
from minnova_idp.sops import formats, rules
from minnova_idp.sops.errors import SopsError
from minnova_idp.sops.rules import GoRegexp, RegexRefused

CATASTROPHIC = "^(a+)+$"
KEY_40 = "a" * 40 + "!"


def test_python_re_hangs_on_the_catastrophic_pattern():
    """Why `re` is not used: the old code's call never finishes (killed after 5 s)."""
    code = f"import re; re.search({CATASTROPHIC!r}, {KEY_40!r})"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", code], timeout=5)


def test_the_catastrophic_pattern_is_matched_in_linear_steps():
    budget = [10**6]
    assert GoRegexp(CATASTROPHIC).search(KEY_40, budget) is False
    used_for_41 = 10**6 - budget[0]
    budget = [10**6]
    assert GoRegexp(CATASTROPHIC).search("a" * 400 + "!", budget) is False
    # Ten times the key, about ten times the steps (backtracking would double per character).
    assert 10**6 - budget[0] < 12 * used_for_41


# (pattern, key, what Go's regexp.Match returns); Python's re.search differs where marked.
GO_MEANING = [
    ("^(data|stringData)$", "stringData", True),
    ("^(data|stringData)$", "metadata", False),
    ("data", "metadata", True),  # unanchored, like re.search
    ("^a$", "a\n", False),  # Go: $ is end of text; Python re.search: True
    ("(?m)^b$", "a\nb", True),
    (r"\d", "\u0663", False),  # Go's \d is ASCII; Python str patterns: True
    (r"\w", "é", False),  # likewise
    (r"\bkey", "ékey", True),  # é is not a word character for Go; Python: False
    (r"\s", "\v", False),  # Go's \s is [\t\n\f\r ]; Python: True
    (".", "\n", False),
    ("(?s).", "\n", True),
    ("[^a]", "\n", True),  # Go's negated classes match newline
    ("(?i)PASSWORD", "password", True),
    ("(?i:a)b", "AB", False),
    ("a(?i)b|c", "C", True),  # a flag lasts to the end of its group, across |
    ("x{", "x{", True),  # not a repeat: literal
    ("a{,2}", "a{,2}", True),
    ("a{2}", "ba", False),
    (r"\x41\x{263a}", "A\u263a", True),
    (r"\Aab\z", "ab", True),
    ("[]a]+$", "x]a", True),
    (r"[\d-]", "-", True),
    ("(?P<n>x)(?<m>y)", "xy", True),
    (CATASTROPHIC, "a" * 40, True),
    (CATASTROPHIC, KEY_40, False),
    ("(a*)*b", "a" * 40, False),
    ("(a|a)*c", "a" * 40, False),
]


@pytest.mark.parametrize(("pattern", "key", "matches"), GO_MEANING)
def test_patterns_mean_what_they_mean_in_go(pattern, key, matches):
    assert GoRegexp(pattern).search(key, [10**6]) is matches


REFUSED = [
    (r"(a)\1", "escape \\1"),  # backreference: not RE2
    ("(?=a)", "lookaround"), ("(?!a)", "lookaround"), ("(?<=a)b", "lookbehind"), ("(?<!a)b", "lookbehind"),
    ("(?>a)", "atomic"), ("(?P=n)", "backreferences"), ("(?#c)", "comments"),
    ("a*+", "nested repetition"), ("a++", "nested repetition"), ("a**", "nested repetition"),
    ("a{1000}{2}", "nested repetition"),
    ("a{1001}", "at most 1000"), ("a{2,1}", "invalid repeat count"),
    ("(a{1000}){1000}", "too large"),
    (r"\Z", "escape \\Z"), (r"\p{L}", "escape \\p"), (r"\Qa\E", "escape \\Q"), ("[[:alpha:]]", "POSIX"),
    ("(a", "missing closing )"), ("a)", "unexpected )"), ("[a", "missing closing ]"), ("*a", "missing argument"),
    ("\\", "trailing backslash"),
]


@pytest.mark.parametrize(("pattern", "message"), REFUSED)
def test_patterns_outside_the_subset_are_refused(pattern, message):
    with pytest.raises(RegexRefused, match=message.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")):
        GoRegexp(pattern)


def _file_with_regex(identity, regex: str, keys: dict) -> str:
    text = sops.encrypt_yaml({"data": keys}, [identity.recipient], encrypted_regex="^data$")
    return text.replace("encrypted_regex: ^data$", f"encrypted_regex: '{regex}'")


def test_a_refused_regex_in_a_file_names_the_file_and_field():
    identity = sops.generate_identity()
    text = _file_with_regex(identity, "(?=x)", {"k": "v"})
    for call in (lambda: sops.decrypt(text, [identity], "apps/x/secrets.yaml"),
                 lambda: sops.recipients(text, "apps/x/secrets.yaml"),
                 lambda: sops.unauthenticated_values(text, "apps/x/secrets.yaml")):
        with pytest.raises(SopsError, match=r"^apps/x/secrets\.yaml: sops\.encrypted_regex: unsupported group"):
            call()


def test_a_catastrophic_regex_in_a_file_is_evaluated_promptly():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"data": {"a" * 40: "v", KEY_40: "w"}}, [identity.recipient],
                             encrypted_regex=CATASTROPHIC)
    assert sops.decrypt(text, [identity], "s.yaml") == {"data": {"a" * 40: "v", KEY_40: "w"}}
    # Only the key that matches is encrypted; `data` and KEY_40 do not match.
    assert sops.unauthenticated_values(text, "s.yaml") == [
        (f"data.{KEY_40}", "is not encrypted (the file's encryption rules leave it in clear), so anyone could "
                           "have changed it")]


def test_the_step_bound_refuses_with_the_field(monkeypatch):
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"data": {f"k{i}" + "a" * 50: "v" for i in range(50)}}, [identity.recipient],
                             encrypted_regex="^k.*z$")
    monkeypatch.setattr(rules, "MAX_STEPS", 100)
    with pytest.raises(SopsError, match=r"^s\.yaml: sops\.encrypted_regex: .*more than 100 steps"):
        sops.decrypt(text, [identity], "s.yaml")


# --- issue 25 item 6: a 5,000-digit number ---------------------------------------------------------


def test_a_huge_plain_number_is_a_string_as_in_go_yaml():
    # yaml.v3 (resolve.go:191-205): ParseInt and ParseUint fail, ParseFloat overflows: the text stays a string.
    huge = "+_" + "9" * 5000
    assert formats.go_plain_scalar(huge) == huge
    assert formats.go_plain_scalar("0x" + "0" * 5000 + "1f") == 31  # leading zeros do not count
    assert sops.plaintext_yaml(f"type: {huge}\n", "s.yaml") == {"type": huge}


def test_a_huge_plain_number_in_a_sops_file_decrypts():
    identity = sops.generate_identity()
    huge = "+_" + "9" * 5000
    text = sops.encrypt_yaml({"data": {"k": "v"}, "type": huge}, [identity.recipient])
    assert f"type: {huge}\n" in text  # plain: a string for yaml.v3 and PyYAML alike
    assert sops.decrypt(text, [identity], "s.yaml")["type"] == huge


def test_a_huge_decrypted_int_is_refused_naming_the_key():
    identity = sops.generate_identity()
    text = sops.encrypt_yaml({"data": {"n": "9" * 5000}}, [identity.recipient])
    forged = text.replace("type:str]", "type:int]")  # the type is not authenticated; the value is
    with pytest.raises(SopsError, match=r"^s\.yaml: data\.n: decrypted value is not a valid int"):
        sops.decrypt(forged, [identity], "s.yaml")
