"""The Go template harness prints what notifications-engine prints, or fails where it would print "<no value>"."""

import pytest

from tests.support.helm import go_template, refuse_no_value

APPLICATION = {"app": {"spec": {"source": {}}, "metadata": {"annotations": {"a": "x"}}, "status": {"n": None}}}


@pytest.mark.parametrize("template", [
    "[{{.app.spec.source.targetRevision}}]",  # rv23's novalue_main.go: Go's text/template prints [<no value>]
    '[{{index .app.metadata.annotations "missing"}}]',
    "[{{.app.status.n}}]",  # a JSON null prints <no value> too
    "{{if true}}[{{- .app.spec.source.repoURL -}}]{{end}}",
])
def test_a_template_printing_a_missing_field_fails(template):
    """Helm executes with missingkey=zero and deletes "<no value>" from its output, so before the check these
    rendered "[]" and a template printing a field the Application lacks passed."""
    pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
    with pytest.raises(Exception, match="<no value>"):
        go_template(template, APPLICATION)


@pytest.mark.parametrize("template,expected", [
    ('[{{index .app.metadata.annotations "a"}}]', "[x]"),
    ('[{{dig "spec" "source" "targetRevision" "" .app}}]', "[]"),
    ('{{$c := false}}{{range (list 1 2)}}{{$c = true}}{{end}}{{if $c}}y{{else}}n{{end}}', "y"),
    ('{{- /* a comment */ -}} [{{ "}}" }}]', "[}}]"),
])
def test_what_prints_a_value_renders_unchanged(template, expected):
    pytest.importorskip("helm_python", reason="helm-python-sdk is not installed")
    assert go_template(template, APPLICATION) == expected


def test_silent_actions_are_left_alone():
    template = '{{$x := 1}}{{if .a}}{{else if .b}}{{end}}{{range .c}}{{end}}{{with .d}}{{end}}{{/* c */}}'
    assert refuse_no_value(template) == template
