//! Validation of what the reference lists inside a spec: ranges, mutual exclusions,
//! uniqueness, syntax of URLs, headers, origins and wildcards, authorization against
//! authentication, and context variables per field.

use serde_json::json;

use super::{
    assert_diags, jwt, merged, stock, with_backend, with_deployment_policies, with_route_policies,
};

const TOKEN_HINT: &str = "a header name is a non-empty token: letters, digits and !#$%&'*+-.^_`|~";

#[test]
fn http_backend_url_and_timeouts() {
    assert_diags(with_backend(json!({ "type": "HTTP_BACKEND", "url": "ftp://x.example.com/",
        "connectTimeoutInSeconds": 0, "readTimeoutInSeconds": 301, "sendTimeoutInSeconds": -1 })), &[
        "error: routes[0].backend.url: unsupported URL scheme \"ftp\" (hint: an HTTP back end URL starts with http:// or https://)",
        "error: routes[0].backend.connectTimeoutInSeconds: must be greater than 0, found 0",
        "error: routes[0].backend.readTimeoutInSeconds: must be at most 300 seconds, found 301",
        "error: routes[0].backend.sendTimeoutInSeconds: must be greater than 0, found -1",
    ]);
    assert_diags(with_backend(json!({ "type": "HTTP_BACKEND", "url": "https://api.example.com/",
        "connectTimeoutInSeconds": 75.5 })), &[
        "error: routes[0].backend.connectTimeoutInSeconds: must be at most 75 seconds, found 75.5",
    ]);
    assert_diags(with_backend(json!({ "type": "HTTP_BACKEND", "url": "https://${request.host}/${request.heders[x]}" })), &[
        "error: routes[0].backend.url: the context variable ${request.host} may not be part of the URL's host (hint: only an HTTP back end inside a DYNAMIC_ROUTING_BACKEND may put its selector's variable in the host)",
        "error: routes[0].backend.url: unknown context variable table `request.heders` at character 26 (hint: did you mean `request.headers`?)",
    ]);
    assert_diags(with_backend(json!({ "type": "HTTP_BACKEND", "url": "/relative/path" })), &[
        "error: routes[0].backend.url: \"/relative/path\" is not an absolute URL (hint: write it as http://host/path or https://host/path)",
    ]);
}

#[test]
fn stock_response() {
    assert_diags(with_backend(json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 700,
        "headers": [ { "name": "Bad Header", "value": "x" }, { "name": "X-Ok", "value": "a\nb" }, { "name": "X-Missing" } ] })), &[
        "error: routes[0].backend.status: must be between 100 and 599, found 700",
        &format!("error: routes[0].backend.headers[0].name: invalid header name \"Bad Header\" (hint: {TOKEN_HINT})"),
        "error: routes[0].backend.headers[1].value: invalid header value (hint: header values may not contain control characters such as CR or LF)",
        "error: routes[0].backend.headers[2]: missing required key \"value\"",
    ]);
}

#[test]
fn dynamic_routing_branches() {
    assert_diags(with_backend(json!({
        "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": { "type": "SINGLE", "selector": "${request.query[v]}" },
        "routingBackends": [
            { "key": { "type": "ANY_OF", "name": "a", "values": ["car", "Truck"], "isDefault": true }, "backend": stock() },
            { "key": { "type": "ANY_OF", "name": "a", "values": ["truck"], "isDefault": true }, "backend": stock() },
            { "key": { "type": "WILDCARD", "name": "w", "expression": "tr*ck" }, "backend": { "type": "OAUTH2_LOGOUT_BACKEND" } },
        ]
    })), &[
        "error: routes[0].backend.selectionSource.selector: this field takes a bare context variable, without `${…}` at character 0 (hint: write `request.query[v]`)",
        "error: routes[0].backend.routingBackends[2].key.expression: the wildcard in \"tr*ck\" must be at the start or the end (hint: write one * or + at the start or the end, e.g. truck* or +.example.com)",
        "error: routes[0].backend.routingBackends[2].backend.type: OAUTH2_LOGOUT_BACKEND cannot be a routing back end (hint: a routing back end is an HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND or STOCK_RESPONSE_BACKEND)",
        "error: routes[0].backend.routingBackends[1].key.name: the name \"a\" is already used by routingBackends[0] (hint: branch names must be unique: logs and metrics report them)",
        "error: routes[0].backend.routingBackends[1].key.isDefault: routingBackends[0] is already the default; only one default is allowed",
        "error: routes[0].backend.routingBackends[1].key.values[0]: the value \"truck\" already selects routingBackends[0] (hint: values are compared case-insensitively and must be unique across all branches)",
    ]);
    assert_diags(with_backend(json!({
        "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": { "type": "SINGLE", "selector": "request.subdomain[example.com]" },
        "routingBackends": [
            { "key": { "type": "WILDCARD", "name": "w", "expression": "*truck*" },
              "backend": { "type": "HTTP_BACKEND", "url": "https://${request.host}/" } },
        ]
    })), &[
        "error: routes[0].backend.routingBackends[0].key.expression: \"*truck*\" has more than one wildcard; exactly one is allowed (hint: write one * or + at the start or the end, e.g. truck* or +.example.com)",
        "error: routes[0].backend.routingBackends[0].backend.url: only the selector's variable ${request.subdomain[example.com]} may appear in the host, found ${request.host}",
    ]);
    assert_diags(with_backend(json!({ "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": { "type": "SINGLE", "selector": "request.body" }, "routingBackends": [] })), &[
        "error: routes[0].backend.selectionSource.selector: request.body is not allowed here; allowed: request.path, request.query, request.headers, request.auth, request.host, request.subdomain, request.usage_plan at character 0",
        "error: routes[0].backend.routingBackends: must not be empty: list at least one routing back end",
    ]);
}

#[test]
fn custom_authentication() {
    let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "ocid1.fnfunc.oc1..a",
        "tokenHeader": "Authorization", "tokenQueryParam": "t",
        "parameters": { "a": "request.path[x]" }, "cacheKey": ["b"] });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication: tokenHeader and tokenQueryParam are mutually exclusive (hint: a single-argument authorizer reads one token: keep one of them)",
        "error: requestPolicies.authentication.parameters: parameters (multi-argument) cannot be combined with tokenHeader or tokenQueryParam (single-argument) (hint: pass the token as one of the parameters, e.g. \"token\": \"request.headers[Authorization]\")",
        "error: requestPolicies.authentication.parameters.a: request.path is not allowed here; allowed: request.query, request.headers, request.host, request.cert, request.body at character 0",
        "error: requestPolicies.authentication.cacheKey[0]: \"b\" is not a name in parameters (hint: parameters names: a)",
    ]);
    let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "", "cacheKey": ["x"] });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.functionId: must not be empty",
        "warning: requestPolicies.authentication: neither tokenHeader, tokenQueryParam nor parameters: the authorizer function receives no token",
        "error: requestPolicies.authentication.cacheKey: cacheKey needs parameters (hint: cacheKey lists names of the multi-argument parameters)",
    ]);
    let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "ocid1.fnfunc.oc1..a",
        "parameters": { "bearer": "request.headers[Authorization]", "tenant": "request.query[tenant]",
                        "k": "request.headers[X-Api-Key]" },
        "cacheKey": ["tenant"] });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "warning: requestPolicies.authentication.cacheKey: cacheKey leaves out \"bearer\" (request.headers[Authorization]), which looks like a credential (hint: callers that differ only in \"bearer\" would share one cached authorizer result; add it to cacheKey)",
        "warning: requestPolicies.authentication.cacheKey: cacheKey leaves out \"k\" (request.headers[X-Api-Key]), which looks like a credential (hint: callers that differ only in \"k\" would share one cached authorizer result; add it to cacheKey)",
    ]);
}

#[test]
fn jwt_authentication() {
    let auth = merged(
        jwt(),
        json!({ "tokenQueryParam": "t", "maxClockSkewInSeconds": 200, "issuers": [],
        "publicKeys": { "type": "REMOTE_JWKS", "uri": "jwks.json", "maxCacheDurationInHours": 0 } }),
    );
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.publicKeys.uri: \"jwks.json\" is not an absolute http or https URL",
        "error: requestPolicies.authentication.publicKeys.maxCacheDurationInHours: must be between 1 and 24, found 0",
        "error: requestPolicies.authentication: tokenHeader and tokenQueryParam are mutually exclusive (hint: keep one: the token is read from a header or from a query parameter)",
        "error: requestPolicies.authentication.maxClockSkewInSeconds: must be between 0 and 120, found 200",
        "error: requestPolicies.authentication.issuers: must not be empty: list the allowed token issuers",
    ]);
    let mut auth = jwt();
    auth.as_object_mut().map(|o| o.remove("tokenHeader"));
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication: missing tokenHeader or tokenQueryParam (hint: JWT_AUTHENTICATION reads the token from a header (tokenHeader with tokenAuthScheme) or a query parameter (tokenQueryParam))",
    ]);
    let mut auth = jwt();
    auth.as_object_mut().map(|o| o.remove("tokenAuthScheme"));
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication: missing required key \"tokenAuthScheme\" (hint: tokenAuthScheme is required with tokenHeader, e.g. \"Bearer\")",
    ]);
}

#[test]
fn static_keys() {
    let auth = merged(
        jwt(),
        json!({ "publicKeys": { "type": "STATIC_KEYS", "keys": [
        { "format": "JSON_WEB_KEY", "kid": "k", "kty": "EC", "use": "enc", "key_ops": [], "alg": "HS256", "n": "x", "e": "AQAB" },
        { "format": "PEM", "kid": "k", "key": "MIIBIjANBg" },
        { "format": "DER", "kid": "z" },
    ] } }),
    );
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.publicKeys.keys[0].kty: unknown key type \"EC\" (hint: expected one of RSA)",
        "error: requestPolicies.authentication.publicKeys.keys[0].use: unknown key use \"enc\" (hint: expected one of sig)",
        "error: requestPolicies.authentication.publicKeys.keys[0].key_ops: key_ops must contain \"verify\"",
        "error: requestPolicies.authentication.publicKeys.keys[0].alg: unsupported algorithm \"HS256\" (hint: RSA keys verify RS256, RS384 or RS512)",
        "error: requestPolicies.authentication.publicKeys.keys[1].key: not a PEM public key (hint: include the -----BEGIN PUBLIC KEY----- and -----END PUBLIC KEY----- markers)",
        "error: requestPolicies.authentication.publicKeys.keys[2].format: unknown key format \"DER\" (hint: expected one of JSON_WEB_KEY, PEM)",
    ]);
    let pem = "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----";
    let auth = merged(
        jwt(),
        json!({ "publicKeys": { "type": "STATIC_KEYS", "keys": [
        { "format": "PEM", "kid": "k", "key": pem }, { "format": "PEM", "kid": "k", "key": pem } ] } }),
    );
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.publicKeys.keys[1].kid: the kid \"k\" is already used by keys[0] (hint: the token's kid selects the key, so kids must be unique)",
    ]);
    let auth = merged(jwt(), json!({ "publicKeys": { "type": "STATIC_KEYS" } }));
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.publicKeys: missing required key \"keys\" (hint: STATIC_KEYS lists the verification keys in keys)",
    ]);
}

#[test]
fn token_authentication_and_failure_policies() {
    let oauth2 = json!({ "type": "OAUTH2", "clientDetails": { "type": "VALIDATION_BLOCK" },
        "sourceUriDetails": { "type": "VALIDATION_BLOCK" }, "scopes": ["email"], "responseType": "token" });
    let auth = json!({ "type": "TOKEN_AUTHENTICATION", "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
        "validationPolicy": { "type": "REMOTE_JWKS", "uri": "https://idp.example.com/jwks" },
        "validationFailurePolicy": oauth2 });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.validationFailurePolicy.type: an OAUTH2 validation failure policy needs TOKEN_AUTHENTICATION with a REMOTE_DISCOVERY validation policy (hint: use MODIFY_RESPONSE, or switch to TOKEN_AUTHENTICATION with REMOTE_DISCOVERY)",
        "error: requestPolicies.authentication.validationFailurePolicy.scopes: scopes must include \"openid\" (hint: OpenID Connect needs the openid scope)",
        "error: requestPolicies.authentication.validationFailurePolicy.responseType: unknown response type \"token\" (hint: expected one of CODE)",
    ]);
    let auth = json!({ "type": "TOKEN_AUTHENTICATION", "tokenQueryParam": "t",
        "validationPolicy": { "type": "REMOTE_DISCOVERY", "clientDetails": { "type": "VALIDATION_BLOCK" },
            "sourceUriDetails": { "type": "DISCOVERY_URI" } } });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.validationPolicy.sourceUriDetails: missing required key \"uri\"",
        "error: requestPolicies.authentication.validationPolicy.clientDetails.type: VALIDATION_BLOCK refers to this validation policy itself (hint: use CUSTOM client details here; VALIDATION_BLOCK belongs in an OAUTH2 failure policy)",
    ]);
    let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "f", "parameters": { "k": "request.headers[K]" },
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE", "responseCode": "abc", "responseMessage": "${request.body}" } });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.validationFailurePolicy.responseCode: unknown context variable table `abc` at character 0 (hint: known tables: request.path, request.query, request.headers, request.auth, request.host, request.subdomain, request.cert, request.usage_plan, request.body)",
        "error: requestPolicies.authentication.validationFailurePolicy.responseMessage: request.body is not allowed here; allowed: request.path, request.query, request.headers, request.auth, request.host, request.subdomain, request.cert, request.usage_plan at character 2",
    ]);
    let auth = json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "f", "parameters": {},
        "validationFailurePolicy": { "type": "MODIFY_RESPONSE", "responseCode": "700", "responseMessage": 5 } });
    assert_diags(with_deployment_policies(json!({ "authentication": auth })), &[
        "error: requestPolicies.authentication.validationFailurePolicy.responseCode: must be between 100 and 599, found 700",
        "error: requestPolicies.authentication.validationFailurePolicy.responseMessage: expected a string, found a number (hint: quote it: \"5\")",
    ]);
}

#[test]
fn dynamic_authentication() {
    let server = |name: &str, detail: serde_json::Value| {
        json!({ "key": { "type": "ANY_OF", "name": name, "values": [name] },
        "authenticationServerDetail": detail })
    };
    let dynamic = json!({ "selectionSource": { "type": "SINGLE", "selector": "request.auth[tenant]" },
        "authenticationServers": [
            server("a", jwt()),
            server("b", merged(jwt(), json!({ "tokenHeader": "X-Token" }))),
            server("c", json!({ "type": "CUSTOM_AUTHENTICATION", "functionId": "f", "tokenHeader": "Authorization" })),
        ] });
    assert_diags(with_deployment_policies(json!({ "dynamicAuthentication": dynamic.clone() })), &[
        "error: requestPolicies.dynamicAuthentication.authenticationServers[1].authenticationServerDetail: reads the token from the header x-token, authenticationServers[0] from the header authorization (hint: with a request.auth selector every server must read the token from the same place)",
        "error: requestPolicies.dynamicAuthentication.authenticationServers[2].authenticationServerDetail.type: with a request.auth selector every authentication server must be JWT_AUTHENTICATION or TOKEN_AUTHENTICATION (hint: the claim is read from the token before any authorizer function runs)",
    ]);
    assert_diags(with_deployment_policies(json!({ "authentication": jwt(), "dynamicAuthentication": {
        "selectionSource": { "type": "SINGLE", "selector": "request.usage_plan[id]" },
        "authenticationServers": [ server("a", jwt()) ] } })), &[
        "error: requestPolicies.dynamicAuthentication: authentication and dynamicAuthentication cannot both be used (hint: keep one: dynamicAuthentication already chooses an authentication server per request)",
        "error: requestPolicies.dynamicAuthentication.selectionSource.selector: request.usage_plan is not allowed here; allowed: request.path, request.query, request.headers, request.auth, request.host, request.subdomain at character 0",
    ]);
}

#[test]
fn route_authorization_against_deployment_authentication() {
    let spec = json!({ "requestPolicies": { "authentication": jwt() }, "routes": [
        { "path": "/a", "methods": ["GET"], "backend": stock(), "requestPolicies": { "authorization": { "type": "ANY_OF" } } },
        { "path": "/b", "methods": ["GET"], "backend": stock(), "requestPolicies": { "authorization": { "type": "ANONYMOUS" } } },
        { "path": "/c", "methods": ["GET"], "backend": stock(), "requestPolicies": { "authorization": { "type": "ANY_OF", "allowedScope": [] } } },
        { "path": "/d", "methods": ["GET"], "backend": stock(), "requestPolicies": { "authorization": { "type": "AUTHENTICATION_ONLY", "allowedScope": ["x"] } } },
    ] });
    assert_diags(spec, &[
        "error: routes[0].requestPolicies.authorization: missing required key \"allowedScope\"",
        "error: routes[2].requestPolicies.authorization.allowedScope: must not be empty: list the scopes that may call the route",
        "warning: routes[3].requestPolicies.authorization.allowedScope: allowedScope is ignored for AUTHENTICATION_ONLY authorization",
        "error: routes[1].requestPolicies.authorization.type: ANONYMOUS authorization needs isAnonymousAccessAllowed: true in the deployment's authentication policy (hint: set requestPolicies.authentication.isAnonymousAccessAllowed to true, or use AUTHENTICATION_ONLY)",
    ]);
    // A broken authentication policy is reported once; routes are not judged against it.
    let spec = json!({ "requestPolicies": { "authentication": { "type": "JWT" } }, "routes": [
        { "path": "/b", "methods": ["GET"], "backend": stock(), "requestPolicies": { "authorization": { "type": "ANONYMOUS" } } } ] });
    assert_diags(spec, &[
        "error: requestPolicies.authentication.type: unknown authentication type \"JWT\" (hint: expected one of CUSTOM_AUTHENTICATION, JWT_AUTHENTICATION, TOKEN_AUTHENTICATION)",
    ]);
}

#[test]
fn header_and_query_transformations() {
    assert_diags(with_route_policies(json!({
        "headerTransformations": {
            "setHeaders": { "items": [ { "name": "X-User", "values": ["a"] },
                                       { "name": "Cookie", "values": ["${request.body}"], "ifExists": "REPLACE" } ] },
            "renameHeaders": { "items": [ { "from": "x-user", "to": "X-Id" } ] },
            "filterHeaders": { "type": "ALLOW", "items": [ { "name": "X-User" }, { "name": "Cookie" } ] }
        },
        "queryParameterTransformations": {
            "setQueryParameters": { "items": [ { "name": "q", "values": [] } ] },
            "renameQueryParameters": { "items": [ { "from": "Q", "to": "query" } ] },
            "filterQueryParameters": { "type": "BLOCK", "items": [ { "name": "q" } ] }
        }
    })), &[
        "error: routes[0].requestPolicies.headerTransformations.setHeaders.items[1].ifExists: unknown ifExists value \"REPLACE\" (hint: expected one of OVERWRITE, APPEND, SKIP)",
        "warning: routes[0].requestPolicies.headerTransformations.setHeaders.items[1].name: Cookie is a protected request header: this transformation will not be applied",
        "error: routes[0].requestPolicies.headerTransformations.setHeaders.items[1].values[0]: request.body is not allowed here; allowed: request.path, request.query, request.headers, request.auth, request.host, request.subdomain, request.cert, request.usage_plan at character 2",
        "error: routes[0].requestPolicies.headerTransformations.renameHeaders.items[0].from: x-user already appears in setHeaders.items[0].name (hint: a header may appear in only one transformation of a route (ALLOW filter lists excepted))",
        "error: routes[0].requestPolicies.queryParameterTransformations.setQueryParameters.items[0].values: must not be empty: list at least one value",
        "error: routes[0].requestPolicies.queryParameterTransformations.filterQueryParameters.items[0].name: q already appears in setQueryParameters.items[0].name (hint: a query parameter may appear in only one transformation of a route (ALLOW filter lists excepted))",
    ]);
    let spec = json!({ "routes": [ { "path": "/", "methods": ["GET"], "backend": stock(),
        "responsePolicies": { "headerTransformations": {
            "setHeaders": { "items": [ { "name": "Retry-After", "values": ["5"] }, { "name": "Cookie", "values": ["x"] } ] },
            "filterHeaders": { "type": "BLOCK", "items": [ { "name": "bad name" } ] } } } } ] });
    assert_diags(spec, &[
        "warning: routes[0].responsePolicies.headerTransformations.setHeaders.items[0].name: Retry-After is a protected response header: this transformation will not be applied",
        &format!("error: routes[0].responsePolicies.headerTransformations.filterHeaders.items[0].name: invalid header name \"bad name\" (hint: {TOKEN_HINT})"),
    ]);
}

#[test]
fn validations() {
    assert_diags(with_route_policies(json!({
        "headerValidations": { "headers": [ { "name": "X-A", "required": true }, { "name": "x-a" }, { "required": true } ] },
        "queryParameterValidations": { "validationMode": "DISABLED", "parameters": [ { "name": "" } ] },
        "bodyValidation": { "content": { "json": { "validationType": "NONE" }, "*/*": { "validationType": "SCHEMA" } } }
    })), &[
        // Policies are read in SDK field order: query validations before header validations.
        "error: routes[0].requestPolicies.queryParameterValidations.parameters[0].name: must not be empty",
        "error: routes[0].requestPolicies.headerValidations.headers[2]: missing required key \"name\"",
        "error: routes[0].requestPolicies.bodyValidation.content.json: invalid media range \"json\" (hint: write */*, type/* or type/subtype, e.g. application/json)",
        "error: routes[0].requestPolicies.bodyValidation.content[\"*/*\"].validationType: unknown validation type \"SCHEMA\" (hint: expected one of NONE)",
    ]);
    assert_diags(with_route_policies(json!({
        "headerValidations": { "headers": [ { "name": "X-A", "required": true }, { "name": "x-a" } ] },
        "bodyValidation": { "content": {} }
    })), &[
        "warning: routes[0].requestPolicies.headerValidations.headers[1].name: x-a is listed twice",
        "error: routes[0].requestPolicies.bodyValidation.content: must not be empty: list the accepted media types (hint: e.g. \"application/json\": {\"validationType\": \"NONE\"})",
    ]);
}

#[test]
fn deployment_policies() {
    assert_diags(with_deployment_policies(json!({
        "rateLimiting": { "rateInRequestsPerSecond": 0, "rateKey": "IP" },
        "cors": { "allowedOrigins": ["https://a.example.com/", "*.example.com"], "allowedMethods": ["get"],
                  "allowedHeaders": ["bad header"] },
        "mutualTls": { "allowedSans": ["a.*.example.com"] },
        "usagePlans": { "tokenLocations": ["${request.headers[client-id]}"] }
    })), &[
        "error: requestPolicies.rateLimiting.rateInRequestsPerSecond: must be at least 1, found 0",
        "error: requestPolicies.rateLimiting.rateKey: unknown rate key \"IP\" (hint: expected one of CLIENT_IP, TOTAL)",
        "error: requestPolicies.cors.allowedOrigins[0]: invalid CORS origin \"https://a.example.com/\" (hint: an origin has no path or trailing slash: https://a.example.com)",
        "error: requestPolicies.cors.allowedOrigins[1]: invalid CORS origin \"*.example.com\" (hint: an origin is *, null, or scheme://host[:port], e.g. https://app.example.com)",
        "warning: requestPolicies.cors.allowedMethods[0]: \"get\" does not match GET: HTTP methods are case-sensitive (hint: write GET)",
        &format!("error: requestPolicies.cors.allowedHeaders[0]: invalid header name \"bad header\" (hint: {TOKEN_HINT})"),
        "error: requestPolicies.mutualTls.allowedSans[0]: \"a.*.example.com\": * is allowed only at the start or the end (hint: e.g. *.example.com or server.example.*)",
        "error: requestPolicies.usagePlans.tokenLocations[0]: this field takes a bare context variable, without `${…}` at character 0 (hint: write `request.headers[client-id]`)",
    ]);
    assert_diags(with_deployment_policies(json!({ "cors": { "allowedMethods": ["GET"] }, "usagePlans": { "tokenLocations": [] } })), &[
        "error: requestPolicies.cors: missing required key \"allowedOrigins\"",
        "error: requestPolicies.usagePlans.tokenLocations: must not be empty: name where the client token is read",
    ]);
}

#[test]
fn logout_and_cache_pairs_are_warned_about() {
    let spec = json!({ "routes": [
        { "path": "/logout", "methods": ["GET", "POST"], "backend": { "type": "OAUTH2_LOGOUT_BACKEND",
            "allowedPostLogoutUris": ["https://app.example.com/${request.bogus[x]}"], "postLogoutState": "${request.query[s]}" } },
        { "path": "/c", "methods": ["GET"], "backend": stock(),
          "requestPolicies": { "responseCacheLookup": { "type": "SIMPLE_LOOKUP_POLICY", "cacheKeyAdditions": ["request.path[id]"] } } },
        { "path": "/d", "methods": ["GET"], "backend": stock(),
          "responsePolicies": { "responseCacheStore": { "type": "FIXED_TTL_STORE_POLICY", "timeToLiveInSeconds": 0 } } },
    ] });
    assert_diags(spec, &[
        "error: routes[0].backend.allowedPostLogoutUris[0]: unknown context variable table `request.bogus` at character 26 (hint: did you mean `request.body`?)",
        "error: routes[1].requestPolicies.responseCacheLookup.cacheKeyAdditions[0]: request.path is not allowed here; allowed: request.query, request.headers, request.auth, request.host at character 0",
        "error: routes[2].responsePolicies.responseCacheStore.timeToLiveInSeconds: must be at least 1, found 0",
        "warning: routes[0].backend: an OAUTH2_LOGOUT_BACKEND only has a session to end with TOKEN_AUTHENTICATION using REMOTE_DISCOVERY and an OAUTH2 failure policy",
        "warning: routes[0].methods: an OAUTH2_LOGOUT_BACKEND answers only GET (hint: write \"methods\": [\"GET\"])",
        "warning: routes[1].requestPolicies.responseCacheLookup: responseCacheLookup without responsePolicies.responseCacheStore: nothing is ever stored, so nothing is found",
        "warning: routes[2].responsePolicies.responseCacheStore: responseCacheStore without requestPolicies.responseCacheLookup: stored responses are never served",
    ]);
}
