//! One operation (a path and a method) of an API description, turned into one route.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{resolve, Dialect};
use crate::diagnostics::{Diagnostics, Kind};
use crate::router::PathTemplate;
use crate::spec::decode::{index_path, key_path};

/// An operation key of a path item and the method OCI spells for it.
#[derive(Debug)]
pub(super) struct Method {
    pub(super) key: &'static str,
    name: &'static str,
}

/// The operations a path item may hold, in the order routes are written.
pub(super) const METHODS: [Method; 8] = [
    Method {
        key: "get",
        name: "GET",
    },
    Method {
        key: "head",
        name: "HEAD",
    },
    Method {
        key: "post",
        name: "POST",
    },
    Method {
        key: "put",
        name: "PUT",
    },
    Method {
        key: "patch",
        name: "PATCH",
    },
    Method {
        key: "delete",
        name: "DELETE",
    },
    Method {
        key: "options",
        name: "OPTIONS",
    },
    Method {
        key: "trace",
        name: "TRACE",
    },
];

/// A route of the imported specification, its keys in the order OCI's examples write them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    path: String,
    methods: [&'static str; 1],
    backend: Backend,
    #[serde(skip_serializing_if = "Map::is_empty")]
    request_policies: Map<String, Value>,
}

/// A route's backend.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Backend {
    #[serde(rename = "HTTP_BACKEND")]
    Http { url: String },
    #[serde(rename = "ORACLE_FUNCTIONS_BACKEND", rename_all = "camelCase")]
    Function { function_id: String },
}

/// Where the routes go.
#[derive(Debug)]
pub(super) enum Target<'a> {
    /// A base URL; the route's path, with its parameters as context variables, is appended.
    Http(String),
    /// A function's OCID.
    Function(&'a str),
}

/// One operation and what it needs from its surroundings.
#[derive(Debug)]
pub(super) struct Operation<'a> {
    pub(super) document: &'a Value,
    pub(super) dialect: Dialect,
    pub(super) path: &'a str,
    pub(super) method: &'static Method,
    /// The route path and the URL path [`convert_path`] made of the description's path.
    pub(super) template: &'a (String, String),
    /// The path item's `parameters`, which every operation of the path shares.
    pub(super) shared: Option<&'a Value>,
    pub(super) operation: &'a Value,
    /// The operation's place in the document: `paths["/pets"].get`.
    pub(super) at: String,
}

/// A parameter as the route needs it.
#[derive(Debug)]
struct Parameter<'a> {
    location: &'a str,
    name: &'a str,
    required: bool,
}

impl Operation<'_> {
    /// The route, or `None` (with the reason reported) when OCI cannot express it.
    pub(super) fn route(&self, target: &Target<'_>, diags: &mut Diagnostics) -> Option<Route> {
        if self.method.name == "TRACE" {
            diags.warning(
                Kind::Unsupported,
                &self.at,
                "OCI routes do not accept TRACE; the operation is left out",
            );
            return None;
        }
        let (template, url_path) = self.template;
        let backend = match target {
            Target::Http(base) => Backend::Http {
                url: format!("{base}{url_path}"),
            },
            Target::Function(id) => Backend::Function {
                function_id: (*id).to_owned(),
            },
        };
        Some(Route {
            path: template.clone(),
            methods: [self.method.name],
            backend,
            request_policies: self.validations(diags),
        })
    }

    /// `paths["/pets"]`: where a problem with the path itself is reported.
    fn path_at(&self) -> String {
        key_path("paths", self.path)
    }

    /// Validation policies for required header and query parameters, and a required body.
    fn validations(&self, diags: &mut Diagnostics) -> Map<String, Value> {
        let parameters = self.parameters(diags);
        let required = |location: &str| -> Vec<Value> {
            parameters
                .iter()
                .filter(|p| p.location == location && p.required)
                .map(|p| json!({ "name": p.name, "required": true }))
                .collect()
        };
        let mut policies = Map::new();
        let headers = required("header");
        if !headers.is_empty() {
            policies.insert(
                "headerValidations".into(),
                json!({ "validationMode": "ENFORCING", "headers": headers }),
            );
        }
        let query = required("query");
        if !query.is_empty() {
            policies.insert(
                "queryParameterValidations".into(),
                json!({ "validationMode": "ENFORCING", "parameters": query }),
            );
        }
        if let Some(types) = self.required_body(&parameters, diags) {
            let content: Map<String, Value> = types
                .into_iter()
                .map(|t| (t, json!({ "validationType": "NONE" })))
                .collect();
            policies.insert(
                "bodyValidation".into(),
                json!({ "validationMode": "ENFORCING", "required": true, "content": content }),
            );
        }
        policies
    }

    /// The path item's parameters overridden by the operation's, by location and name. OpenAPI
    /// says to ignore header parameters named Accept, Content-Type or Authorization.
    fn parameters(&self, diags: &mut Diagnostics) -> Vec<Parameter<'_>> {
        let mut found: Vec<Parameter<'_>> = Vec::new();
        let lists = [
            (self.shared, self.path_at()),
            (self.operation.get("parameters"), self.at.clone()),
        ];
        for (list, at) in lists {
            let Some(Value::Array(list)) = list else {
                continue;
            };
            let at = key_path(&at, "parameters");
            for (i, parameter) in list.iter().enumerate() {
                let Some(parameter) = resolve(self.document, parameter, &index_path(&at, i), diags)
                else {
                    continue;
                };
                let (Some(location), Some(name)) = (
                    parameter.get("in").and_then(Value::as_str),
                    parameter.get("name").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let ignored = self.dialect == Dialect::OpenApi3
                    && location == "header"
                    && ["accept", "content-type", "authorization"]
                        .contains(&name.to_ascii_lowercase().as_str());
                if ignored {
                    continue;
                }
                let required = parameter.get("required") == Some(&Value::Bool(true));
                found.retain(|p| !(p.location == location && p.name == name));
                found.push(Parameter {
                    location,
                    name,
                    required,
                });
            }
        }
        found
    }

    /// The media types of a required request body: OpenAPI 3's `requestBody` with
    /// `required: true`, or a required Swagger 2 `in: body` parameter (with `consumes`).
    fn required_body(
        &self,
        parameters: &[Parameter<'_>],
        diags: &mut Diagnostics,
    ) -> Option<Vec<String>> {
        match self.dialect {
            Dialect::OpenApi3 => {
                let at = key_path(&self.at, "requestBody");
                let body = resolve(
                    self.document,
                    self.operation.get("requestBody")?,
                    &at,
                    diags,
                )?;
                if body.get("required") != Some(&Value::Bool(true)) {
                    return None;
                }
                let types: Vec<String> = match body.get("content") {
                    Some(Value::Object(content)) => content.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                Some(if types.is_empty() {
                    vec!["*/*".to_owned()]
                } else {
                    types
                })
            }
            Dialect::Swagger2 => {
                parameters
                    .iter()
                    .find(|p| p.location == "body" && p.required)?;
                let consumes = self
                    .operation
                    .get("consumes")
                    .or_else(|| self.document.get("consumes"))
                    .and_then(Value::as_array);
                let types: Vec<String> = consumes
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                Some(if types.is_empty() {
                    vec!["application/json".to_owned()]
                } else {
                    types
                })
            }
        }
    }
}

/// The route's path template and the path to append to a base URL, with every `{name}`
/// there as `${request.path[name]}`. Parameter names OCI does not allow are rewritten.
pub(super) fn convert_path(
    path: &str,
    at: &str,
    diags: &mut Diagnostics,
) -> Option<(String, String)> {
    let Some(rest) = path.strip_prefix('/') else {
        diags.warning(
            Kind::Invalid,
            at,
            "a path must start with '/'; its operations are left out",
        );
        return None;
    };
    let mut template = String::with_capacity(path.len());
    let mut url = String::with_capacity(path.len() + 16);
    for segment in rest.split('/') {
        template.push('/');
        url.push('/');
        let param = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|name| !name.contains(['{', '}']));
        match param {
            Some(name) => {
                let oci_name: String = name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                if oci_name != name {
                    diags.warning(
                        Kind::Invalid,
                        at,
                        format!(
                            "parameter name '{name}' is written '{oci_name}' in the route \
                             (OCI allows letters, digits and '_')"
                        ),
                    );
                }
                template.push_str(&format!("{{{oci_name}}}"));
                url.push_str(&format!("${{request.path[{oci_name}]}}"));
            }
            None if segment.contains(['{', '}']) => {
                diags.warning(
                    Kind::Unsupported,
                    at,
                    format!(
                        "segment {segment:?} has a parameter inside it; OCI routes take \
                         whole-segment parameters only, so its operations are left out"
                    ),
                );
                return None;
            }
            None => {
                template.push_str(segment);
                url.push_str(segment);
            }
        }
    }
    if let Err(e) = PathTemplate::parse(&template) {
        diags.warning(
            Kind::Unsupported,
            at,
            format!(
                "{template:?} cannot be an OCI route path ({}); its operations are left out",
                e.without_hint()
            ),
        );
        return None;
    }
    Some((template, url))
}
