"""DNS records in Cloudflare and certificates from Let's Encrypt (DNS-01), per stack."""

from __future__ import annotations

import json

import pytest

from minnova_idp.plan.recorder import run_plan
from minnova_idp.render.tls import record_type

from tests.conftest import (
    PROJECT_DIR,
    example_plan,
    load_stack_inputs,
    project_copy,
    project_without_a_database,
    resource_named,
    stack_problems,
)
from tests.support.k8s_strict import require_crds, validate_objects

ZONE_ID = "fedcba9876543210fedcba9876543210"


@pytest.mark.parametrize("address,expected", [("203.0.113.10", "A"), ("2001:db8::1", "AAAA"),
                                              ("lb.example.net", "CNAME")])
def test_record_type_follows_the_ingress_address(address, expected):
    assert record_type(address) == expected


def test_a_record_per_app_host(dev_plan):
    records = {r.name: r.inputs for r in dev_plan.resources if r.type == "cloudflare:index/dnsRecord:DnsRecord"}
    assert records["oracle-dev-dns"] == {
        "zoneId": ZONE_ID, "name": "oracle.dev.minnova.io", "type": "A", "content": "203.0.113.10", "ttl": 1,
        "proxied": False, "comment": "minnova-idp minnova: oracle-dev"}
    assert records["storefront-dev-dns"]["name"] == "shop.dev.minnova.io"
    assert records["preview-wildcard"]["name"] == "*.preview.minnova.io"
    assert records["preview-wildcard"]["proxied"] is False
    assert set(records) == {"oracle-dev-dns", "storefront-dev-dns", "catalog-dev-dns", "ledger-dev-dns",
                            "ledger-dev-dns-alias-books.ledger.minnova.io",
                            "preview-wildcard",
                            "argocd-webhook"}
    assert records["argocd-webhook"]["name"] == "argocd-webhooks.dev.minnova.io"


def test_dns01_token_is_scoped_to_the_zone_and_stored_as_a_secret(dev_plan):
    token = resource_named(dev_plan, "cert-manager-dns01")
    (policy,) = token.inputs["policies"]
    assert json.loads(policy["resources"]) == {f"com.cloudflare.api.account.zone.{ZONE_ID}": "*"}
    assert policy["permissionGroups"] == [{"id": "<id of DNS Write>"}, {"id": "<id of Zone Read>"}]
    secret = resource_named(dev_plan, "platform-secret-cloudflare-api-token")
    assert secret.inputs["metadata"] == {"name": "cloudflare-api-token", "namespace": "cert-manager"}
    assert secret.inputs["stringData"] == {"api-token": "[secret]"}


def test_cluster_issuers_answer_dns01_with_that_token(dev_plan):
    require_crds()
    issuers = {r.inputs["metadata"]["name"]: r for r in dev_plan.resources
               if r.type == "kubernetes:cert-manager.io/v1:ClusterIssuer"}
    assert set(issuers) == {"letsencrypt-prod", "letsencrypt-staging"}
    acme = issuers["letsencrypt-prod"].inputs["spec"]["acme"]
    assert acme["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert "staging" in issuers["letsencrypt-staging"].inputs["spec"]["acme"]["server"]
    (solver,) = acme["solvers"]
    assert solver["dns01"] == {"cloudflare": {"apiTokenSecretRef": {"name": "cloudflare-api-token", "key": "api-token"}}}
    assert solver["selector"] == {"dnsZones": ["minnova.io"]}
    cert_manager = resource_named(dev_plan, "cert-manager")
    token_secret = resource_named(dev_plan, "platform-secret-cloudflare-api-token")
    for issuer in issuers.values():
        assert {cert_manager.urn, token_secret.urn} <= set(issuer.dependencies)
    validate_objects(r.inputs for r in issuers.values())


def test_ingresses_name_the_configured_issuer(dev_plan):
    ingress = resource_named(dev_plan, "oracle-dev-ingress-oracle")
    assert ingress.inputs["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt-staging"}


def test_preview_wildcard_certificate(dev_plan):
    require_crds()
    certificate = resource_named(dev_plan, "platform-certificate-preview-wildcard")
    assert certificate.inputs["spec"]["dnsNames"] == ["*.preview.minnova.io"]
    assert certificate.inputs["spec"]["issuerRef"]["name"] == "letsencrypt-staging"
    validate_objects([certificate.inputs])


def test_prod_stack_without_preview_domain_has_no_wildcard():
    names = {r.name for r in example_plan("prod").resources}
    assert "oracle-prod-dns" in names and "preview-wildcard" not in names


def problems(project, **settings) -> list[str]:
    return stack_problems(project, extra={f"minnova:{key}": value for key, value in settings.items()})


def test_host_outside_the_zone_is_refused(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("shop.dev.minnova.io", "shop.dev.example.org"))
    assert problems(project) == [
        "examples/storefront/.minnova/app.yaml: environments.dev.host: 'shop.dev.example.org' is outside this stack's "
        "zone minnova.io (hint: use a host ending in .minnova.io)"]


def test_preview_domain_outside_the_zone_is_refused():
    assert "minnova:previewDomain: 'preview.example.org' is outside this stack's zone minnova.io" in " ".join(
        problems(PROJECT_DIR, previewDomain="preview.example.org"))


def test_issuer_must_be_one_this_stack_creates():
    found = problems(PROJECT_DIR, clusterIssuer="my-issuer")
    assert found == ["Pulumi.dev.yaml: minnova:clusterIssuer: 'my-issuer' is not an issuer this stack creates "
                     "(hint: one of: letsencrypt-prod, letsencrypt-staging)"]


def test_proxied_hosts_must_be_one_level_below_the_zone():
    found = problems(PROJECT_DIR, dnsProxied="true")
    # the four apps' dev hosts, and ledger's dev alias books.ledger.minnova.io (two levels below the zone too)
    assert len(found) == 5 and all("edge certificate covers only one level below minnova.io" in p for p in found)


def test_two_apps_claiming_one_host_fail_the_whole_run_naming_both(tmp_path):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("shop.dev.minnova.io", "oracle.dev.minnova.io"))
    found = problems(project)
    assert len(found) == 1
    assert found[0].startswith("examples/storefront/.minnova/app.yaml:")
    assert "'oracle.dev.minnova.io' is already the host of app 'oracle' (dev)" in found[0]


def test_cname_to_a_load_balancer_host(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.prod.yaml"
    stack.write_text(stack.read_text().replace("203.0.113.20", "lb.eu-west.example.net"))
    plan = run_plan(project, "prod")
    record = resource_named(plan, "oracle-prod-dns")
    assert record.inputs["type"] == "CNAME" and record.inputs["content"] == "lb.eu-west.example.net"


def test_without_cloudflare_there_are_no_records_or_issuers(tmp_path):
    project = project_without_a_database(tmp_path)
    stack = project / "Pulumi.prod.yaml"
    text = stack.read_text()
    start = text.index("  minnova:cloudflare:")
    end = text.index("  minnova:kubernetes:")
    stack.write_text(text[:start] + text[end:])
    plan = run_plan(project, "prod")
    types = {r.type for r in plan.resources}
    assert not any(t.startswith("cloudflare:") or "ClusterIssuer" in t for t in types)


@pytest.mark.parametrize("host,message", [
    ("minnova.io", "'minnova.io' is the zone apex (minnova:baseDomain); apps cannot use it"),
    ("argocd-webhooks.dev.minnova.io", "is the Argo CD webhook host (minnova:previews.webhookHost)"),
    ("oracle-pr-7.preview.minnova.io", "is in the preview domain (minnova:previewDomain preview.minnova.io)"),
    ("www.minnova.io", "is not a host app 'storefront' may use (its registry entry's `hosts`: shop.minnova.io, "
                       "shop.dev.minnova.io, store.minnova.io) (hint: the platform team adds it to `hosts` in "
                       "deployments/minnova/apps/storefront.yaml)"),
    ("login.minnova.io", "is not a host app 'storefront' may use"),
])
def test_an_app_can_claim_only_its_own_hosts(tmp_path, host, message):
    project = project_copy(tmp_path)
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("shop.dev.minnova.io", host))
    found = problems(project)
    assert len(found) == 1 and found[0].startswith("examples/storefront/.minnova/app.yaml: environments.dev.host: ")
    assert message in found[0], found


def test_without_hosts_an_app_may_use_its_own_name_and_reserved_hosts_win(tmp_path):
    project = project_copy(tmp_path)
    entry = project / "deployments/minnova/apps/storefront.yaml"
    entry.write_text(entry.read_text().split("# Hosts outside")[0])
    found = problems(project)
    assert [p.split(": ", 2)[1] for p in found] == ["environments.dev.host"]
    assert ("'shop.dev.minnova.io' is not a host app 'storefront' may use (the default for its name: "
            "storefront.minnova.io, storefront.dev.minnova.io, *.storefront.minnova.io)") in found[0]
    app_yaml = project / "examples/storefront/.minnova/app.yaml"
    app_yaml.write_text(app_yaml.read_text().replace("shop.dev.minnova.io", "storefront.dev.minnova.io"))
    assert load_stack_inputs(project).apps  # loads: no problem
    # Only the stack's environments below the name, never `storefront.<any app>.<zone>` (issue 25 review): that host
    # is also under `*.<any app>.<zone>`, the other app's own subtree.
    app_yaml.write_text(app_yaml.read_text().replace("storefront.dev.minnova.io", "storefront.oracle.minnova.io"))
    assert any("'storefront.oracle.minnova.io' is not a host app 'storefront' may use" in p for p in problems(project))
    app_yaml.write_text(app_yaml.read_text().replace("storefront.oracle.minnova.io", "storefront.dev.minnova.io"))
    assert problems(project, reservedHosts='["*.dev.minnova.io"]') == [
        "examples/catalog/.minnova/app.yaml: environments.dev.host: 'catalog.dev.minnova.io' is reserved (Pulumi.dev.yaml: "
        "minnova:reservedHosts *.dev.minnova.io); apps cannot use it",
        "examples/ledger/.minnova/app.yaml: environments.dev.host: 'ledger.dev.minnova.io' is reserved (Pulumi.dev.yaml: "
        "minnova:reservedHosts *.dev.minnova.io); apps cannot use it",
        "examples/oracle/.minnova/app.yaml: environments.dev.host: 'oracle.dev.minnova.io' is reserved (Pulumi.dev.yaml: "
        "minnova:reservedHosts *.dev.minnova.io); apps cannot use it",
        "examples/storefront/.minnova/app.yaml: environments.dev.host: 'storefront.dev.minnova.io' is reserved "
        "(Pulumi.dev.yaml: minnova:reservedHosts *.dev.minnova.io); apps cannot use it"]


def test_host_patterns():
    from minnova_idp.model.fields import host_matches

    assert host_matches("*.oracle.acme.io", "api.oracle.acme.io")
    assert not host_matches("*.oracle.acme.io", "oracle.acme.io")
    assert not host_matches("*.oracle.acme.io", "a.b.oracle.acme.io")
    assert host_matches("oracle.*.acme.io", "oracle.dev.acme.io") and not host_matches("oracle.*.acme.io", "oracle.acme.io")
