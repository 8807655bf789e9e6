"""An environment's other hosts (render/host_aliases.py): the Ingress serves some, a Traefik redirect answers for the
others, every one has a DNS record and is on the environment's one certificate; a preview never gets any."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from minnova_idp.load.inputs import served_hosts
from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import load_yaml
from minnova_idp.model.app_config import AppConfig
from minnova_idp.render.app import app_objects, render_app
from minnova_idp.render.host_aliases import REDIRECT_REGEX, TRAEFIK_MIDDLEWARES_ANNOTATION, redirect_replacement
from minnova_idp.render.placement import DnsTarget, RenderSettings, environment_placement
from minnova_idp.render.resources import DnsRecord
from tests.support.k8s_strict import validate_custom_resource, validate_objects
from tests.support.traefik import MIDDLEWARE_CRD, traefik_file, traefik_source_missing

SETTINGS = RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer="letsencrypt-prod")


def shop(prod_aliases: list[dict] | None = None) -> AppConfig:
    environments = {"dev": {"host": "shop.dev.example.com"},
                    "prod": {"replicas": 2, "host": "example.com",
                             **({"aliases": prod_aliases} if prod_aliases is not None else {})}}
    document = {"name": "shop", "image": {"repository": "registry.example.com/shop", "tag": "1"}, "port": 3000,
                "environments": environments}
    return validate_document(AppConfig, load_yaml(yaml.safe_dump(document), "app.yaml"))


BOTH = [{"host": "www.example.com"}, {"host": "store.example.com", "redirect": False}]


def manifests(config: AppConfig, settings: RenderSettings = SETTINGS) -> dict[tuple[str, str], dict]:
    objects = render_app(config, environment_placement(config, "prod", "1"), settings)
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def test_serving_aliases_are_rules_of_the_apps_ingress_and_every_host_is_on_its_certificate():
    ingress = manifests(shop(BOTH))[("Ingress", "shop")]
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["example.com", "store.example.com"]
    backends = {rule["http"]["paths"][0]["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]}
    assert backends == {"shop"}
    # One Certificate (cert-manager's ingress-shim: one per secretName) for all three, the redirecting one too.
    assert ingress["spec"]["tls"] == [{"hosts": ["example.com", "www.example.com", "store.example.com"],
                                       "secretName": "shop-tls"}]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-prod"}


def test_redirecting_aliases_get_a_middleware_and_an_ingress_without_an_issuer():
    objects = manifests(shop(BOTH))
    middleware = objects[("Middleware", "shop-redirect")]
    assert middleware["apiVersion"] == "traefik.io/v1alpha1" and middleware["metadata"]["namespace"] == "shop-prod"
    assert middleware["spec"] == {"redirectRegex": {"regex": "^https?://[^/]+(.*)$",
                                                    "replacement": "https://example.com${1}", "permanent": True}}
    redirect = objects[("Ingress", "shop-redirect")]
    # `<namespace>-<name>@kubernetescrd`: traefik@v3.7.9 pkg/provider/kubernetes/crd/kubernetes.go:48-49,1493-1498
    assert redirect["metadata"]["annotations"] == {
        TRAEFIK_MIDDLEWARES_ANNOTATION: "shop-prod-shop-redirect@kubernetescrd"}
    assert [rule["host"] for rule in redirect["spec"]["rules"]] == ["www.example.com"]
    # The app's certificate secret, without the issuer annotation: no second Certificate for the same secret.
    assert redirect["spec"]["tls"] == [{"hosts": ["www.example.com"], "secretName": "shop-tls"}]


def test_only_serving_aliases_need_no_redirect_objects_and_none_without_aliases():
    serving = manifests(shop([{"host": "store.example.com", "redirect": False}]))
    assert not [key for key in serving if key[1] == "shop-redirect"]
    plain = manifests(shop())
    assert plain[("Ingress", "shop")]["spec"]["tls"] == [{"hosts": ["example.com"], "secretName": "shop-tls"}]
    assert [key for key in plain if key[0] in ("Ingress", "Middleware")] == [("Ingress", "shop")]


def test_without_an_issuer_the_hosts_are_listed_and_no_secret_named():
    objects = manifests(shop(BOTH), RenderSettings(deployment="acme", ingress_class="traefik", cluster_issuer=None))
    assert objects[("Ingress", "shop")]["spec"]["tls"] == [
        {"hosts": ["example.com", "www.example.com", "store.example.com"]}]
    assert objects[("Ingress", "shop-redirect")]["spec"]["tls"] == [{"hosts": ["www.example.com"]}]


def test_a_dns_record_per_alias_named_by_its_host():
    config = shop(BOTH)
    declared = app_objects(config, environment_placement(config, "prod", "1"), SETTINGS, component="shop-prod",
                           dns=DnsTarget(zone_id="z", address="203.0.113.7"))
    records = {r.name: r.host for r in declared if isinstance(r, DnsRecord)}
    assert records == {"shop-prod-dns": "example.com", "shop-prod-dns-alias-www.example.com": "www.example.com",
                       "shop-prod-dns-alias-store.example.com": "store.example.com"}


def test_rendered_objects_pass_strict_validation():
    objects = render_app(shop(BOTH), environment_placement(shop(BOTH), "prod", "1"), SETTINGS)
    # Kubernetes' OpenAPI and the shared CRDs; the Middleware: test_the_middleware_validates_against_traefiks_crd
    validate_objects([o for o in objects if o["kind"] != "Middleware"])


def _traefik_file(path: str) -> str:
    """traefik/traefik at the tag read (host_aliases.py's docstring); the test skips without its source."""
    missing = traefik_source_missing()
    if missing:
        pytest.skip(missing)
    return traefik_file(path)


@pytest.mark.integration  # reads traefik's source with git
def test_the_middleware_validates_against_traefiks_crd(tmp_path):
    """The shared CRD directory holds no Traefik CRD yet (scripts/fetch_upstream.py now fetches it): validated
    against the CRD of the tag read, from its source."""
    crd = tmp_path / "traefik.io_middlewares.yaml"
    crd.write_text(_traefik_file(MIDDLEWARE_CRD))
    middleware = manifests(shop(BOTH))[("Middleware", "shop-redirect")]
    validate_custom_resource(middleware, crd)
    broken = {**middleware, "spec": {"redirectRegex": {**middleware["spec"]["redirectRegex"], "permanent": "yes"}}}
    with pytest.raises(Exception, match="permanent"):
        validate_custom_resource(broken, crd)


@pytest.mark.integration  # reads traefik's source with git
def test_the_redirect_lines_relied_on_are_in_traefiks_source():
    """What keeps path and query (host_aliases.py): the matched URL ends in Go's RequestURI, the redirect goes to
    the regexp's replacement, `permanent` is 301/308. A change in any of these lines fails here first."""
    regex_go = _traefik_file("pkg/middlewares/redirect/redirect_regex.go").splitlines()
    assert regex_go[26] == "\turi := req.RequestURI"  # redirect_regex.go:27
    assert regex_go[46] == '\treturn strings.Join([]string{scheme, "://", host, port, uri}, "")'  # :47
    redirect_go = _traefik_file("pkg/middlewares/redirect/redirect.go").splitlines()
    assert redirect_go[63] == "\tnewURL := r.regex.ReplaceAllString(oldURL, r.replacement)"  # redirect.go:64
    assert redirect_go[92] == '\trw.Header().Set("Location", m.location.String())'  # :93
    assert redirect_go[100:103] == ["\t\tstatus = http.StatusMovedPermanently",
                                    "\t\tif req.Method != http.MethodGet {",
                                    "\t\t\tstatus = http.StatusPermanentRedirect"]  # :101-103
    annotations_go = _traefik_file("pkg/provider/kubernetes/ingress/annotations.go").splitlines()
    assert annotations_go[12] == '\tannotationsPrefix = "traefik.ingress.kubernetes.io/"'  # annotations.go:13


# What traefik's RedirectRegex does with a request (redirect_regex.go:23-48 and redirect.go:54-76 at v3.7.9), in Go
# itself: the URL built from the request-target as Go's server parses it, the replacement by Go's regexp (whose
# `${1}` syntax Python's re does not share), the Location as url.URL writes it.
GO_PROGRAM = r'''
package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
)

func main() {
	re := regexp.MustCompile(os.Args[1])
	for _, target := range os.Args[3:] {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
			"GET " + target + " HTTP/1.1\r\nHost: www.example.com\r\n\r\n")))
		if err != nil {
			panic(err)
		}
		oldURL := strings.Join([]string{"https", "://", req.Host, "", req.RequestURI}, "")
		newURL := re.ReplaceAllString(oldURL, os.Args[2])
		parsed, err := url.Parse(newURL)
		if err != nil {
			panic(err)
		}
		fmt.Println(parsed.String())
	}
}
'''


@pytest.mark.integration  # runs the Go toolchain
def test_the_redirect_keeps_path_and_query_in_go(tmp_path):
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is not installed (apt-get install golang)")
    program = tmp_path / "main.go"
    program.write_text(GO_PROGRAM)
    targets = ["/", "/a/b?x=1&y=%2F", "/search?q=caf%C3%A9#frag", "/p/?a=1&a=2", "/$1/x", "//double"]
    result = subprocess.run(["go", "run", str(program), REDIRECT_REGEX, redirect_replacement("example.com"), *targets],
                            check=True, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "GO111MODULE": "off",
                                 "GOCACHE": str(tmp_path / "cache")})
    assert result.stdout.splitlines() == [
        "https://example.com/", "https://example.com/a/b?x=1&y=%2F", "https://example.com/search?q=caf%C3%A9#frag",
        "https://example.com/p/?a=1&a=2", "https://example.com/$1/x", "https://example.com//double"]
    # (Browsers send no fragment and keep theirs across a redirect; one sent anyway is kept as sent.)
    wrong = subprocess.run(["go", "run", str(program), REDIRECT_REGEX, "https://example.com$1x", "/a?b=1"],
                           check=True, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "GO111MODULE": "off", "GOCACHE": str(tmp_path / "cache")})
    assert wrong.stdout.splitlines() == ["https://example.com"]  # `$1x` is a group named `1x`: why `${1}`


def test_a_preview_never_gets_an_alias():
    """render-preview renders from the app's config: prod's aliases never reach a preview, and its Ingress stays
    what the preview admission policy admits (tests/render/test_preview_admission.py evaluates it)."""
    from minnova_idp.render.preview import render_preview
    from tests.render.test_preview import REQUEST

    objects = render_preview(shop(BOTH), REQUEST, None, (), None, "0" * 64)
    hosts = {host for o in objects if o["kind"] == "Ingress"
             for host in [*(rule["host"] for rule in o["spec"]["rules"]),
                          *(h for tls in o["spec"].get("tls", []) for h in tls["hosts"])]}
    assert hosts == {f"{REQUEST.namespace}.preview.io"}
    assert not [o for o in objects if o["kind"] == "Middleware" or o["metadata"]["name"].endswith("-redirect")]


def test_a_preview_ingress_of_an_app_with_aliases_is_admitted():
    celpy = pytest.importorskip("celpy", reason="cel-python evaluates the policy's CEL rules")
    del celpy
    from minnova_idp.render import preview_admission
    from minnova_idp.render.preview import render_preview
    from tests.render.test_preview import REQUEST
    from tests.render.test_preview_admission import refusals

    (ingress,) = [o for o in render_preview(shop(BOTH), REQUEST, None, (), None, "0" * 64) if o["kind"] == "Ingress"]
    policies = preview_admission.render_policy("preview.io", "traefik", {})
    assert refusals(ingress, ingress["metadata"]["namespace"], policies) == []
    # The same Ingress with an alias added (what a render path that leaked aliases would make) is refused.
    rules = ingress["spec"]["rules"]
    leaked = {**ingress, "spec": {**ingress["spec"], "rules": [*rules, {**rules[0], "host": "example.com"}]}}
    assert refusals(leaked, ingress["metadata"]["namespace"], policies) != []


def test_hosts_an_app_serves_through_aliases_stay_its_own():
    outputs = {"urls": {"shop-prod": "https://example.com", "zed-prod": "https://zed.example.com"},
               "hostAliases": {"shop-prod": ["https://www.example.com", "https://store.example.com"]}}
    assert served_hosts(outputs, {"shop": None, "zed": None}, ["prod"]) == {
        "example.com": "shop", "www.example.com": "shop", "store.example.com": "shop", "zed.example.com": "zed"}
    assert served_hosts({"urls": outputs["urls"]}, {"shop": None}, ["prod"]) == {"example.com": "shop"}
