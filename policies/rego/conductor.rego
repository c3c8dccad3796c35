# Conductor's baseline authorization for OPA: the same decisions as policies/cedar/*.cedar, one
# rule per Cedar policy (each tagged with its Cedar @id), driven by the same decision table
# (policies/decisions.json).
#
# Entry point: data.conductor.authz.decision, compiled in-process for @open-policy-agent/opa-wasm by
#   opa build -t wasm -e conductor/authz/decision policies/rego -o bundle.tar.gz
#
# Input: an AuthzRequest (layers/shared/src/policy/types.ts), its shape checked by opa.ts:
#   {"principal": {"subject", "tenantId", "roles": [...]}, "action",
#    "resource": {"tenantId", "kind", "classification"?, "approverRoles"?: [...], "requestedBy"?},
#    "context": {"mfa": bool, "grantedTenants": [...]}}
#   (`classification`, `approverRoles` and `requestedBy` are optional, as in the Cedar schema: each
#   absent when the request has none.)
# Output, with Cedar's semantics:
#   any forbid matches -> deny, reasons = the matching forbids;
#   else any permit matches -> allow, reasons = the matching permits;
#   else deny, reasons = [].
#   obligations = the determining policies' @obligation; masks = their @mask, on allow only.
#   An action the Cedar schema does not declare for requests is not decided: Cedar rejects such a
#   request, so the decision carries "error" and opa.ts fails closed.
package conductor.authz

import rego.v1

# The Cedar schema's `action "..." in [...]` declarations (policies/cedar/schema.cedarschema):
# each action that requests may name -> the action groups it is in. The groups themselves
# ("read", "operate", "administer", "sensitive", "cross-tenant-request") apply to no request.
action_groups := {
	"experts:list": {"read"},
	"experts:get": {"read"},
	"experts:create": {"administer"},
	"experts:update": {"administer"},
	"experts:delete": {"administer"},
	"experts:health:set": {"operate"},
	"router:route": {"operate"},
	"router:invoke": {"operate"},
	"router:reward": {"operate"},
	"router:route-to": {"operate"},
	"router:rationale:get": {"read"},
	"router:config:get": {"read"},
	"router:config:history": {"administer"},
	"router:rewards:rejected:list": {"administer"},
	"router:config:update": {"administer", "sensitive"},
	"router:priors:put": {"administer", "sensitive"},
	"router:priors:export": {"administer"},
	"router:outcome": {"operate"},
	"router:experiment:get": {"read"},
	"router:replay:start": {"administer"},
	"router:replay:get": {"read"},
	"scheduler:enqueue": {"operate"},
	"scheduler:jobs:get": {"read"},
	"scheduler:jobs:list": {"read"},
	"budgets:state:get": {"read"},
	"budgets:limits:put": {"administer"},
	"budgets:what-if": {"read"},
	"eval:suites:put": {"operate"},
	"eval:suites:list": {"read"},
	"eval:run": {"operate"},
	"eval:runs:list": {"read"},
	"eval:results:get": {"read"},
	"eval:results:report": {"read"},
	"eval:results:priors": {"read"},
	"eval:baselines:snapshot": {"operate"},
	"eval:baselines:promote": {"administer"},
	"eval:baselines:list": {"read"},
	"edge:nodes:register": {"administer"},
	"edge:nodes:revoke": {"administer"},
	"edge:types:put": {"administer"},
	"edge:documents:create": {"operate"},
	"edge:operations:push": {"operate"},
	"edge:conflicts:resolve": {"operate"},
	"edge:nodes:list": {"read"},
	"edge:nodes:read": {"read"},
	"edge:nodes:heartbeat": {"read"},
	"edge:types:list": {"read"},
	"edge:documents:list": {"read"},
	"edge:documents:read": {"read"},
	"edge:sync": {"read"},
	"edge:conflicts:list": {"read"},
	"edge:conflicts:read": {"read"},
	"runbooks:publish": {"administer", "sensitive"},
	"runbooks:registry:list": {"read"},
	"runbooks:get": {"read"},
	"runbooks:versions:list": {"read"},
	"runbooks:versions:get": {"read"},
	"runbooks:versions:revoke": {"administer", "sensitive"},
	"runbooks:keys:add": {"administer", "sensitive"},
	"runbooks:keys:retire": {"administer", "sensitive"},
	"runbooks:keys:list": {"read"},
	"runbooks:execute": {"operate", "sensitive"},
	"runbooks:executions:list": {"read"},
	"runbooks:executions:get": {"read"},
	"runbooks:steps:confirm": {"operate"},
	"runbooks:approvals:request": {"operate"},
	"runbooks:approvals:respond": {"read", "sensitive"},
	"runbooks:approvals:decide": {"sensitive"},
	"ops:dead-letters:list": {"platform"},
	"ops:dead-letters:redrive": {"platform", "sensitive"},
	"ops:dead-letters:discard": {"platform", "sensitive"},
	"compliance:read": {"platform"},
	"compliance:evidence:read": {"platform"},
	"compliance:assessments:run": {"platform"},
	"compliance:findings:update": {"platform", "sensitive"},
	"compliance:dsr:run": {"platform", "sensitive"},
	"policy:authorize": {"operate"},
	"policy:decisions:list": {"administer"},
	"policy:dry-run": {"administer"},
	"policy:grants:list": {"administer"},
	"policy:grants:get": {"administer"},
	"policy:grants:request": {"administer", "sensitive", "cross-tenant-request"},
	"policy:grants:approve": {"administer", "sensitive"},
	"policy:grants:revoke": {"administer", "sensitive", "cross-tenant-request"},
}

# The Cedar policies' annotations, by policy id: @obligation("...") and @mask("...").
obligation_of := {
	"cross-tenant-needs-approved-grant": "request_approval",
	"sensitive-needs-step-up": "step_up",
}

mask_of := {"viewer-reads-experts-masked": "endpoint"}

# --- Helpers: the Cedar expressions the policies use ---------------------------------------------

declared_action if {
	some action, _ in action_groups
	action == input.action
}

# Cedar's `action in Conductor::Action::"<group>"`: the action is the group or one of its members.
action_in(group) if input.action == group

action_in(group) if group in action_groups[input.action]

# principal.roles, a Cedar Set<String>.
roles := {role | some role in input.principal.roles}

# Cedar's `principal.roles.containsAny([...])`.
has_any_role(wanted) if {
	some role in roles
	role in wanted
}

# Cedar's `context.grantedTenants.contains(resource.tenant)`.
granted_tenant if input.resource.tenantId in input.context.grantedTenants

# Cedar's `principal.tenant == resource.tenant || context.grantedTenants.contains(resource.tenant)`.
own_or_granted_tenant if input.principal.tenantId == input.resource.tenantId

own_or_granted_tenant if granted_tenant

# Cedar's `context.mfa` (true only for the boolean true).
stepped_up if input.context.mfa == true

# --- Forbids (policies/cedar/guards.cedar): they beat every permit -------------------------------

# @id("cross-tenant-needs-approved-grant")
# forbid when principal.tenant != resource.tenant
# unless grantedTenants.contains(resource.tenant) || action in "cross-tenant-request"
forbids contains "cross-tenant-needs-approved-grant" if {
	input.principal.tenantId != input.resource.tenantId
	not granted_tenant
	not action_in("cross-tenant-request")
}

# @id("sensitive-needs-step-up")
# forbid action in "sensitive" unless context.mfa
forbids contains "sensitive-needs-step-up" if {
	action_in("sensitive")
	not stepped_up
}

# @id("restricted-experts-need-admin")
# forbid action == "router:route-to" (equality, not group membership)
# when resource has classification && resource.classification == "restricted"
# unless principal.roles.containsAny(["admin", "tenant-admin", "org-admin"])
# An absent classification leaves input.resource.classification undefined: the rule does not match.
forbids contains "restricted-experts-need-admin" if {
	input.action == "router:route-to"
	input.resource.classification == "restricted"
	not has_any_role({"admin", "tenant-admin", "org-admin"})
}

# @id("requester-cannot-approve")
# forbid action == "runbooks:approvals:decide" (equality)
# when resource has requestedBy && resource.requestedBy == principal.subject
# An absent requestedBy leaves input.resource.requestedBy undefined: the rule does not match.
forbids contains "requester-cannot-approve" if {
	input.action == "runbooks:approvals:decide"
	input.resource.requestedBy == input.principal.subject
}

# @id("grant-approved-by-its-tenant")
# forbid action == "policy:grants:approve" (equality) when principal.tenant != resource.tenant
forbids contains "grant-approved-by-its-tenant" if {
	input.action == "policy:grants:approve"
	input.principal.tenantId != input.resource.tenantId
}

# --- Permits (policies/cedar/tenant.cedar) -------------------------------------------------------

# @id("read-own-or-granted-tenant")
permits contains "read-own-or-granted-tenant" if {
	action_in("read")
	own_or_granted_tenant
	has_any_role({"viewer", "operator", "admin", "tenant-admin", "org-admin"})
}

# @id("operate-own-or-granted-tenant")
permits contains "operate-own-or-granted-tenant" if {
	action_in("operate")
	own_or_granted_tenant
	has_any_role({"operator", "admin", "tenant-admin", "org-admin"})
}

# @id("administer-own-or-granted-tenant")
permits contains "administer-own-or-granted-tenant" if {
	action_in("administer")
	own_or_granted_tenant
	has_any_role({"admin", "tenant-admin", "org-admin"})
}

# @id("platform-org-admin-own-tenant")
# principal.tenant == resource.tenant (no grant) && principal.roles.contains("org-admin")
permits contains "platform-org-admin-own-tenant" if {
	action_in("platform")
	input.principal.tenantId == input.resource.tenantId
	"org-admin" in roles
}

# @id("request-cross-tenant-grant")
# action == "policy:grants:request" (equality, not group membership), any tenant.
permits contains "request-cross-tenant-grant" if {
	input.action == "policy:grants:request"
	has_any_role({"tenant-admin", "org-admin"})
}

# @id("withdraw-cross-tenant-grant")
# action == "policy:grants:revoke" (equality), principal.tenant != resource.tenant: the requester
# withdraws its own request from its tenant (the grant service refuses anyone else's).
permits contains "withdraw-cross-tenant-grant" if {
	input.action == "policy:grants:revoke"
	input.principal.tenantId != input.resource.tenantId
	has_any_role({"tenant-admin", "org-admin"})
}

# @id("viewer-reads-experts-masked")
# action in ["experts:list", "experts:get"], roles == ["viewer"] (Cedar set equality).
permits contains "viewer-reads-experts-masked" if {
	some action in ["experts:list", "experts:get"]
	action_in(action)
	own_or_granted_tenant
	roles == {"viewer"}
}

# @id("approve-in-stage-role")
# action == "runbooks:approvals:decide" (equality), principal.tenant == resource.tenant (no grant)
# && resource has approverRoles && principal.roles.containsAny(resource.approverRoles)
# An absent approverRoles leaves input.resource.approverRoles undefined: the rule does not match.
permits contains "approve-in-stage-role" if {
	input.action == "runbooks:approvals:decide"
	input.principal.tenantId == input.resource.tenantId
	has_any_role(input.resource.approverRoles)
}

# --- The decision --------------------------------------------------------------------------------

# The determining policies: the matching forbids if any, else the matching permits.
reasons := sort(forbids) if count(forbids) > 0

reasons := sort(permits) if count(forbids) == 0

default allow := false

allow if {
	declared_action
	count(forbids) == 0
	count(permits) > 0
}

obligations := sort({obligation | some id in reasons; obligation := obligation_of[id]})

default masks := []

masks := sort({mask | some id in reasons; mask := mask_of[id]}) if allow

decision := {
	"allow": allow,
	"obligations": obligations,
	"masks": masks,
	"reasons": reasons,
} if declared_action

decision := {
	"allow": false,
	"obligations": [],
	"masks": [],
	"reasons": [],
	"error": "the action is not declared for requests in the Cedar schema",
} if {
	not declared_action
}
