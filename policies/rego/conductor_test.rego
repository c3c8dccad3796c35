# Unit tests of conductor.rego, run by `opa test policies/rego` (a unit test of the suite runs it;
# CI installs opa). The shared decision table (policies/decisions.json) drives both engines case by
# case; these pin the Rego's own building blocks: the Cedar semantics it re-implements.
package conductor.authz_test

import rego.v1

import data.conductor.authz

acme_operator := {"subject": "u-1", "tenantId": "acme", "roles": ["operator"]}

request(principal, action, resource_tenant, mfa, granted) := {
	"principal": principal,
	"action": action,
	"resource": {"tenantId": resource_tenant, "kind": "experts"},
	"context": {"mfa": mfa, "grantedTenants": granted},
}

test_operator_routes_in_own_tenant if {
	d := authz.decision with input as request(acme_operator, "router:route", "acme", false, [])
	d.allow
	d.reasons == ["operate-own-or-granted-tenant"]
	d.obligations == []
}

test_other_tenant_without_grant_is_denied_with_request_approval if {
	d := authz.decision with input as request(acme_operator, "router:route", "globex", false, [])
	not d.allow
	d.reasons == ["cross-tenant-needs-approved-grant"]
	d.obligations == ["request_approval"]
}

test_a_live_grant_opens_the_other_tenant if {
	d := authz.decision with input as request(acme_operator, "router:route", "globex", false, ["globex"])
	d.allow
}

test_sensitive_action_needs_step_up if {
	admin := {"subject": "u-2", "tenantId": "acme", "roles": ["tenant-admin"]}
	without := authz.decision with input as request(admin, "router:config:update", "acme", false, [])
	not without.allow
	without.obligations == ["step_up"]
	with_mfa := authz.decision with input as request(admin, "router:config:update", "acme", true, [])
	with_mfa.allow
}

test_a_forbid_beats_every_permit if {
	org_admin := {"subject": "u-3", "tenantId": "acme", "roles": ["org-admin"]}
	d := authz.decision with input as request(org_admin, "policy:grants:approve", "acme", false, [])
	not d.allow
	d.reasons == ["sensitive-needs-step-up"]
}

test_a_viewer_reads_experts_masked if {
	viewer := {"subject": "u-4", "tenantId": "acme", "roles": ["viewer"]}
	d := authz.decision with input as request(viewer, "experts:get", "acme", false, [])
	d.allow
	d.masks == ["endpoint"]
}

test_viewer_and_operator_are_not_masked_together if {
	both := {"subject": "u-5", "tenantId": "acme", "roles": ["viewer", "operator"]}
	d := authz.decision with input as request(both, "experts:get", "acme", false, [])
	d.allow
	d.masks == []
}

test_restricted_expert_needs_an_admin_to_be_routed_to if {
	restricted := {"tenantId": "acme", "kind": "experts", "classification": "restricted"}
	operator := authz.decision with input as object.union(
		request(acme_operator, "router:route-to", "acme", false, []),
		{"resource": restricted},
	)
	not operator.allow
	operator.reasons == ["restricted-experts-need-admin"]
	admin := {"subject": "u-6", "tenantId": "acme", "roles": ["admin"]}
	allowed := authz.decision with input as object.union(
		request(admin, "router:route-to", "acme", false, []),
		{"resource": restricted},
	)
	allowed.allow
}

test_an_undeclared_action_is_not_decided if {
	d := authz.decision with input as request(acme_operator, "experts:purge", "acme", true, [])
	not d.allow
	d.error
}

test_an_action_group_is_not_an_action if {
	d := authz.decision with input as request(acme_operator, "operate", "acme", true, [])
	not d.allow
	d.error
}

test_unknown_roles_grant_nothing if {
	stranger := {"subject": "u-7", "tenantId": "acme", "roles": ["superuser"]}
	d := authz.decision with input as request(stranger, "experts:list", "acme", false, [])
	not d.allow
	d.reasons == []
}

test_a_requester_withdraws_its_grant_request_across_tenants_and_nothing_more if {
	admin := {"subject": "u-8", "tenantId": "acme", "roles": ["tenant-admin"]}
	withdraw := authz.decision with input as request(admin, "policy:grants:revoke", "globex", true, [])
	withdraw.allow
	withdraw.reasons == ["withdraw-cross-tenant-grant"]
	approve := authz.decision with input as request(admin, "policy:grants:approve", "globex", true, [])
	not approve.allow
	approve.obligations == ["request_approval"]
	operator := authz.decision with input as request(acme_operator, "policy:grants:revoke", "globex", true, [])
	not operator.allow
}

approval_request(principal, resource_tenant, granted, resource) := object.union(
	request(principal, "runbooks:approvals:decide", resource_tenant, true, granted),
	{"resource": object.union({"tenantId": resource_tenant, "kind": "approval-requests"}, resource)},
)

test_a_holder_of_a_stage_role_approves_but_not_their_own_execution if {
	stage := {"approverRoles": ["operator", "admin"], "requestedBy": "u-someone-else"}
	d := authz.decision with input as approval_request(acme_operator, "acme", [], stage)
	d.allow
	d.reasons == ["approve-in-stage-role"]
	own := authz.decision with input as approval_request(acme_operator, "acme", [], {
		"approverRoles": ["operator"],
		"requestedBy": "u-1",
	})
	not own.allow
	own.reasons == ["requester-cannot-approve"]
	own.obligations == []
}

test_approving_needs_a_stage_role_in_the_own_tenant if {
	viewer := {"subject": "u-9", "tenantId": "acme", "roles": ["viewer"]}
	not_in_stage := authz.decision with input as approval_request(viewer, "acme", [], {"approverRoles": ["operator"]})
	not not_in_stage.allow
	not_in_stage.reasons == []
	no_roles_given := authz.decision with input as approval_request(acme_operator, "acme", [], {})
	not no_roles_given.allow
	granted := authz.decision with input as approval_request(acme_operator, "globex", ["globex"], {"approverRoles": ["operator"]})
	not granted.allow
	granted.reasons == []
}
