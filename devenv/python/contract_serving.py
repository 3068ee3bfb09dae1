"""The serving-endpoint routes the product calls (migration/serving.ts), each through the Databricks SDK's typed
method, in an endpoint's lifecycle: create it serving the contract model's version, read it, list it, change its
config, patch its tags, put its AI gateway, then read and set its permissions. Each case checks what was written reads back; the last
also checks that a member given CAN_VIEW reads the endpoint but may not change it (a refusal changes nothing).

Creating and updating an endpoint return a waiter in the SDK (create / update_config, not their `_and_wait`
variants): its `response` is the answer, which is what is judged; nothing here waits for a deployment.
"""
from databricks.sdk.errors import PermissionDenied
from databricks.sdk.service import iam, serving

from contract_runner import need


def register(case):
    def entity(x, size):
        return serving.ServedEntityInput(
            name=x.served, entity_name=x.model, entity_version=x.version, workload_size=size, scale_to_zero_enabled=True
        )

    def routes(x):
        return serving.TrafficConfig(routes=[serving.Route(served_entity_name=x.served, traffic_percentage=100)])

    def served(e):
        return [(s.name, s.entity_name, s.entity_version, s.workload_size, s.scale_to_zero_enabled) for s in (e.config.served_entities or [])]

    @case("POST /api/2.0/serving-endpoints")
    def create_endpoint(x):
        x.endpoint = f"{x.model}-serving"
        x.served = f"{x.model}-{x.version}"
        config = serving.EndpointCoreConfigInput(name=x.endpoint, served_entities=[entity(x, "Small")], traffic_config=routes(x))
        e = x.w.serving_endpoints.create(
            x.endpoint, config=config, tags=[serving.EndpointTag(key="team", value="quant")], description="quant-alpha, served"
        ).response
        need(e.name == x.endpoint and e.id and e.permission_level == serving.ServingEndpointDetailedPermissionLevel.CAN_MANAGE, f"the new endpoint: {e}")
        x.endpoint_id = e.id
        return e.state.config_update.value if e.state and e.state.config_update else None

    @case("GET /api/2.0/serving-endpoints/{name}")
    def get_endpoint(x):
        e = x.w.serving_endpoints.get(x.endpoint)
        need(served(e) == [(x.served, x.model, x.version, "Small", True)], f"the served entities: {served(e)}")
        routes_read = [(r.served_entity_name or r.served_model_name, r.traffic_percentage) for r in e.config.traffic_config.routes]
        need(routes_read == [(x.served, 100)], f"the traffic: {routes_read}")
        need([(t.key, t.value) for t in e.tags or []] == [("team", "quant")], f"the tags: {e.tags}")
        need(e.description == "quant-alpha, served" and e.ai_gateway is None, f"the description and gateway: {e.description!r} {e.ai_gateway}")
        need(e.id == x.endpoint_id and e.state.config_update == serving.EndpointStateConfigUpdate.NOT_UPDATING, f"the endpoint: {e.id} {e.state}")
        return e.state.ready.value

    @case("GET /api/2.0/serving-endpoints")
    def list_endpoints(x):
        found = [e for e in x.w.serving_endpoints.list() if e.name == x.endpoint]
        need(len(found) == 1 and found[0].id == x.endpoint_id, f"{x.endpoint} among the listed endpoints: {found}")
        return [s.entity_version for s in found[0].config.served_entities]

    @case("PUT /api/2.0/serving-endpoints/{name}/config")
    def update_config(x):
        x.w.serving_endpoints.update_config(x.endpoint, served_entities=[entity(x, "Medium")], traffic_config=routes(x))
        e = x.w.serving_endpoints.get(x.endpoint)
        need(served(e) == [(x.served, x.model, x.version, "Medium", True)], f"the served entities after the update: {served(e)}")
        return e.config.config_version

    @case("PATCH /api/2.0/serving-endpoints/{name}/tags")
    def patch_tags(x):
        got = x.w.serving_endpoints.patch(x.endpoint, add_tags=[serving.EndpointTag(key="stage", value="live")], delete_tags=["team"])
        read = [(t.key, t.value) for t in x.w.serving_endpoints.get(x.endpoint).tags or []]
        need([(t.key, t.value) for t in got.tags or []] == [("stage", "live")] and read == [("stage", "live")], f"the tags: {got.tags}, read {read}")
        return read

    @case("PUT /api/2.0/serving-endpoints/{name}/ai-gateway")
    def put_ai_gateway(x):
        limits = [serving.AiGatewayRateLimit(calls=100, renewal_period=serving.AiGatewayRateLimitRenewalPeriod.MINUTE, key=serving.AiGatewayRateLimitKey.USER)]
        got = x.w.serving_endpoints.put_ai_gateway(
            x.endpoint, rate_limits=limits, usage_tracking_config=serving.AiGatewayUsageTrackingConfig(enabled=True)
        )
        read = x.w.serving_endpoints.get(x.endpoint).ai_gateway
        for g in (got, read):
            need(g.rate_limits == limits and g.usage_tracking_config.enabled is True and g.guardrails is None, f"the gateway: {g}")
        return [r.calls for r in read.rate_limits]

    @case("GET /api/2.0/permissions/serving-endpoints/{id}")
    def endpoint_permissions(x):
        acl = x.w.permissions.get("serving-endpoints", x.endpoint_id)
        direct = [(e.user_name or e.group_name, p.permission_level.value) for e in acl.access_control_list for p in e.all_permissions if not p.inherited]
        admins = [p for e in acl.access_control_list if e.group_name == "admins" for p in e.all_permissions if p.inherited]
        me = x.w.current_user.me().user_name
        need(acl.object_type == "serving-endpoint" and acl.object_id.endswith(x.endpoint_id), f"the ACL object: {acl.object_type} {acl.object_id}")
        need(direct == [(me, "CAN_MANAGE")] and [p.permission_level.value for p in admins] == ["CAN_MANAGE"], f"the entries: {direct}, admins {admins}")
        return direct[0][1]

    @case("PUT /api/2.0/permissions/serving-endpoints/{id}")
    def set_endpoint_permissions(x):
        member = x.member.current_user.me().user_name
        grant = iam.AccessControlRequest(user_name=member, permission_level=iam.PermissionLevel.CAN_VIEW)
        acl = x.w.permissions.set("serving-endpoints", x.endpoint_id, access_control_list=[grant])
        direct = [(e.user_name or e.group_name, p.permission_level.value) for e in acl.access_control_list for p in e.all_permissions if not p.inherited]
        need(direct == [(member, "CAN_VIEW")], f"the direct entries after the set: {direct}")
        seen = x.member.serving_endpoints.get(x.endpoint)
        need(seen.permission_level == serving.ServingEndpointDetailedPermissionLevel.CAN_VIEW, f"the member's level: {seen.permission_level}")
        try:
            x.member.serving_endpoints.update_config(x.endpoint, served_entities=[entity(x, "Large")], traffic_config=routes(x))
            refused = False
        except PermissionDenied:
            refused = True
        need(refused and served(x.w.serving_endpoints.get(x.endpoint))[0][3] == "Medium", "a member with CAN_VIEW changed the endpoint's config")
        return direct[0][1]
